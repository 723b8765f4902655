"""A peer process for test_exchange.py (not a test module: run as a script, or imported for its messages).

    python exchange_peer.py talker    publishes /tf_static at once (transient local), prints STATIC_PUBLISHED;
                                      then waits for a subscriber on each volatile topic and publishes once;
                                      runs until its standard input closes.
    python exchange_peer.py listener  subscribes to every topic (its /tf_static subscription joins after the
                                      static message was published), prints each received message as one JSON
                                      line {"topic": ..., "msg": {...}}, exits 0 when it has them all.
All waits are for a match or a message, with a deadline; never a fixed sleep.
"""
from __future__ import annotations

import json
import sys
import threading
import time

DEADLINE_S = 60.0


def make_messages() -> dict:
    """topic -> message, with distinctive values in every field that matters."""
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import TransformStamped
    from std_msgs.msg import Header
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose

    from deeprm_ros.msg import ObjectRefinement, RefinementStatus

    header = Header(stamp=Time(sec=1712345678, nanosec=123456789), frame_id="camera_color_optical_frame")
    dets = Detection3DArray(header=header)
    for i, (cls, score) in enumerate([("mug", 0.875), ("can", 0.25)]):
        d = Detection3D(header=header, id=f"det-{i}")
        h = ObjectHypothesisWithPose()
        h.hypothesis.class_id = cls
        h.hypothesis.score = score
        h.pose.pose.position.x, h.pose.pose.position.y, h.pose.pose.position.z = 0.1 + i, -0.02, 0.65
        o = h.pose.pose.orientation
        o.x, o.y, o.z, o.w = 0.5, -0.5, 0.5, 0.5
        h.pose.covariance = [float(k) / 10.0 + i for k in range(36)]
        d.results.append(h)
        d.bbox.center = h.pose.pose
        d.bbox.size.x, d.bbox.size.y, d.bbox.size.z = 0.08, 0.09, 0.1 + i
        dets.detections.append(d)

    def tf(parent, child, x, stamp_sec):
        t = TransformStamped()
        t.header.stamp = Time(sec=stamp_sec, nanosec=5)
        t.header.frame_id = parent
        t.child_frame_id = child
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = x, 0.25, -1.5
        r = t.transform.rotation
        r.x, r.y, r.z, r.w = 0.0, 0.0, 0.70710678118654757, 0.70710678118654757
        return t

    tf_msg = TFMessage(transforms=[tf("camera_color_optical_frame", "deeprm_mug_1", 0.125, 1712345678)])
    # All static frames in one message (tf_static keeps only the last message: depth 1).
    tf_static = TFMessage(transforms=[tf("base_link", "camera_link", 0.5, 0),
                                      tf("camera_link", "camera_color_optical_frame", 0.0, 0)])

    status = RefinementStatus(header=header, render_ms=3.5, network_ms=12.25, total_ms=17.75, dropped_frames=7,
                              track_count=2)
    status.objects = [ObjectRefinement(track_id="1", class_id="mug", iterations=4, translation_update_mm=1.5,
                                       rotation_update_deg=0.25, converged=True),
                      ObjectRefinement(track_id="2", class_id="can", iterations=2, translation_update_mm=8.0,
                                       rotation_update_deg=3.0, converged=False)]
    return {"/detections": dets, "/tf": tf_msg, "/tf_static": tf_static, "/refinement_status": status}


def to_dict(msg):
    """A message as plain JSON-able data (nested dicts, lists, numbers, strings)."""
    if hasattr(msg, "get_fields_and_field_types"):
        return {name: to_dict(getattr(msg, name)) for name in msg.get_fields_and_field_types()}
    if isinstance(msg, (list, tuple)) or type(msg).__name__ in ("ndarray", "array"):
        return [to_dict(v) for v in msg]
    if hasattr(msg, "item"):  # numpy scalar
        return msg.item()
    return msg


def qos_for(topic: str):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    if topic == "/tf_static":   # as tf2_ros.StaticTransformBroadcaster
        return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
    if topic == "/tf":          # as tf2_ros.TransformBroadcaster
        return QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    return QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def _spin_until(executor, condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {DEADLINE_S} s waiting for {what}")
        executor.spin_once(timeout_sec=0.05)


def talker() -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init()
    node = rclpy.create_node("exchange_talker")
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    msgs = make_messages()
    pubs = {topic: node.create_publisher(type(m), topic, qos_for(topic)) for topic, m in msgs.items()}
    pubs["/tf_static"].publish(msgs["/tf_static"])
    print("STATIC_PUBLISHED", flush=True)

    stdin_closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()
    try:
        for topic in ("/detections", "/tf", "/refinement_status"):
            _spin_until(ex, lambda: pubs[topic].get_subscription_count() > 0 or stdin_closed.is_set(),
                        f"a subscriber on {topic}")
            pubs[topic].publish(msgs[topic])
            print(f"PUBLISHED {topic}", flush=True)
        # Stay alive (serving the transient-local /tf_static sample and reliable resends) until told to stop.
        while not stdin_closed.is_set():
            ex.spin_once(timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def listener() -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init()
    node = rclpy.create_node("exchange_listener")
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    received = {}

    def on(topic):
        def cb(msg):
            if topic not in received:
                received[topic] = msg
                print(json.dumps({"topic": topic, "msg": to_dict(msg)}), flush=True)
        return cb

    subs = [node.create_subscription(type(m), topic, on(topic), qos_for(topic))
            for topic, m in make_messages().items()]
    try:
        _spin_until(ex, lambda: all(s.get_publisher_count() > 0 for s in subs), "a publisher on every topic")
        print("MATCHED", flush=True)
        _spin_until(ex, lambda: len(received) == len(subs), "every message")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ("talker", "listener"):
        sys.exit("usage: exchange_peer.py talker|listener")
    sys.exit(talker() if role == "talker" else listener())
