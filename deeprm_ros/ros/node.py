"""The refiner node: Image (or CompressedImage) + CameraInfo + Detection3DArray in; refined Detection3DArray,
TF, RefinementStatus, /diagnostics, mesh markers and a debug overlay out.

Threads: subscription callbacks only store messages (never touching the network) and run side by side
(a reentrant callback group); the reset service, which waits for the worker, has a group of its own, so
that waiting holds up neither the inputs nor the parameter services. One worker thread owns the GL
context, the network and the tracks, and refines the newest frame (a queue of one: a frame that arrives
while another waits replaces it and is counted as dropped). When the worker stops (its backend cannot be
built), the node reports ERROR on /diagnostics and the process exits with status 1.

Parameters that are not read-only apply from the next frame after `ros2 param set`.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path

import torch  # before any GL context
import timm  # noqa: F401
import numpy as np
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Pose, TransformStamped
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_srvs.srv import Trigger
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker, MarkerArray

from deeprm_ros.msg import ObjectRefinement, RefinementStatus

from . import camera
from . import conversions as conv
from .health import HealthMonitor, diagnostic_array
from .parameters import declare_and_validate, validate_value
from .resources import default_checkpoint, default_models_dir
from .tracks import Detection, TrackManager, pose_in_image

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                    history=HistoryPolicy.KEEP_LAST)
# Parameters that the TrackManager holds, by its attribute name: a change is passed on to it.
TRACK_PARAMETERS = {"association_gate_m": "gate_m", "track_timeout_s": "timeout_s", "max_objects": "max_tracks",
                    "max_unconverged_frames": "max_unconverged_frames", "reinit_rotation_deg": "reinit_rotation_deg"}


class WorkerStopped(RuntimeError):
    """The worker cannot go on (its backend could not be built): every later frame would fail the same way."""


class BackendFailure(RuntimeError):
    """The network or renderer failed on one frame (not the input's fault)."""


class Throttle:
    """At most one log line per key and period, so a flood of bad input cannot flood the log."""

    def __init__(self, logger, period_s: float = 2.0):
        self.logger, self.period, self.last = logger, period_s, {}

    def warn(self, key: str, text: str) -> None:
        self._log(self.logger.warning, key, text)

    def error(self, key: str, text: str) -> None:
        self._log(self.logger.error, key, text)

    def _log(self, log, key: str, text: str) -> None:
        now = time.monotonic()
        if now - self.last.get(key, -1e9) >= self.period:
            self.last[key] = now
            log(text)


class RefinerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("deeprm_refiner", **kwargs)
        self.params = declare_and_validate(self)
        p = self.params
        self.labels = conv.parse_object_labels(p["object_labels"])
        self.throttle = Throttle(self.get_logger())
        self.checkpoint = Path(p["checkpoint"] or default_checkpoint())
        self.models_dir = Path(p["models_dir"] or default_models_dir())
        # Fail at start-up, naming the file, when the model or meshes cannot be used.
        from ..checkpoint import load_model
        from ..meshes import load_object_library
        # Config and weights (a fraction of a second): the worker builds its backend only at the first frame
        # with objects, where a corrupt file would only skip every frame with a warning instead of stopping.
        load_model(self.checkpoint)
        self.models = load_object_library(self.models_dir, unit=p["mesh_unit"])
        self.tracks = TrackManager(gate_m=p["association_gate_m"], timeout_s=p["track_timeout_s"],
                                   max_tracks=p["max_objects"], max_unconverged_frames=p["max_unconverged_frames"],
                                   reinit_rotation_deg=p["reinit_rotation_deg"],
                                   symmetries={oid: m.symmetry_transforms(64) for oid, m in self.models.items()})
        unknown = {c: o for c, o in self.labels.items() if o not in self.models}
        if unknown:
            raise ValueError(f"parameter 'object_labels': obj_ids {sorted(set(unknown.values()))} have no mesh in {self.models_dir}")
        if not self.labels:
            self.labels = {str(o): o for o in self.models}
        self.device = p["device"] if p["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")

        self.lock = threading.Condition()
        self.pending = None            # newest (image msg, receive time) waiting for the worker
        self.infos = deque(maxlen=30)  # recent CameraInfo messages, paired with images by stamp
        self.detections = deque(maxlen=10)
        self.dropped = 0
        self.reset_requested = False
        self.running = True
        self.ready = threading.Event()
        self.fatal_error = None        # text once the worker has stopped: the process then exits with status 1
        self.warned_distortion = False
        self.health = HealthMonitor(window_s=5 * p["diagnostics_period_s"])

        self.pub_det = self.create_publisher(Detection3DArray, "refined_detections", 10)
        self.pub_status = self.create_publisher(RefinementStatus, "refinement_status", 10)
        self.pub_tf = self.create_publisher(TFMessage, "/tf", TF_QOS)
        self.pub_markers = self.create_publisher(MarkerArray, "markers", 10)
        self.pub_overlay = self.create_publisher(Image, "overlay", 2)
        self.pub_diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        inputs = ReentrantCallbackGroup()  # store-and-return callbacks under self.lock: safe side by side
        # Every input's QoS can be overridden with the standard qos_overrides.<topic>.subscription.<policy>
        # parameters (e.g. reliability best_effort, for a best-effort detector).
        overridable = dict(callback_group=inputs, qos_overriding_options=QoSOverridingOptions.with_default_policies())
        if p["image_transport"] == "compressed":
            self.image_topic = self.resolve_topic_name("image") + "/compressed"
            self.create_subscription(CompressedImage, self.image_topic, self._on_image, qos_profile_sensor_data,
                                     **overridable)
        else:
            self.image_topic = self.resolve_topic_name("image")
            self.create_subscription(Image, "image", self._on_image, qos_profile_sensor_data, **overridable)
        self.create_subscription(CameraInfo, "camera_info", self._on_info, qos_profile_sensor_data, **overridable)
        self.create_subscription(Detection3DArray, "detections", self._on_detections, 10, **overridable)
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(p["diagnostics_period_s"], self.publish_diagnostics, callback_group=inputs)
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self.worker = threading.Thread(target=self._work, name="deeprm_worker", daemon=True)
        self.worker.start()

    # ---- callbacks: store and return -------------------------------------------------------------
    def _on_image(self, msg):
        now = time.monotonic()
        self.health.image_received(now)
        with self.lock:
            if self.pending is not None:
                self.dropped += 1
                self.health.image_dropped(now)
            self.pending = msg
            self.lock.notify()

    def _on_info(self, msg: CameraInfo):
        with self.lock:
            self.infos.append(msg)

    def _on_detections(self, msg: Detection3DArray):
        with self.lock:
            self.detections.append(msg)
            self.lock.notify()

    def _on_parameters_set(self, parameters):
        """Apply a change that passed validation (read-only ones never get here): the worker reads self.params
        at every frame, and the track policy gets its own copy."""
        for prm in parameters:
            if prm.name not in self.params:  # rclpy's own (use_sim_time, qos_overrides.*)
                continue
            value = validate_value(prm.name, [] if prm.value is None else prm.value)
            with self.lock:
                self.params[prm.name] = value
                if prm.name in TRACK_PARAMETERS:
                    setattr(self.tracks, TRACK_PARAMETERS[prm.name], value)
            self.get_logger().info(f"parameter {prm.name} = {value!r}: applies from the next frame")

    def publish_diagnostics(self):
        if not rclpy.ok():
            return
        report = self.health.report(time.monotonic(), len(self.tracks.tracks))
        report.values["backend"] = f"{self.params['backend']} on {getattr(self, 'backend_device', self.device)}"
        report.values["image topic"] = self.image_topic
        self.pub_diagnostics.publish(diagnostic_array(report, f"{self.get_name()}: refinement",
                                                      self.get_fully_qualified_name(),
                                                      self.get_clock().now().to_msg()))

    def _on_reset(self, request, response):
        with self.lock:
            self.reset_requested = True
            self.lock.notify()
        deadline = time.monotonic() + 5.0
        while self.reset_requested and time.monotonic() < deadline:
            time.sleep(0.005)
        response.success = not self.reset_requested
        response.message = "all tracks cleared" if response.success else "worker busy; tracks will be cleared"
        return response

    # ---- worker ----------------------------------------------------------------------------------
    def _work(self):
        from ..evaluate import build_refiner
        try:
            self.refiner = None
            self.renderer_size = None
            threads = self.params["cpu_threads"] or max(1, (os.cpu_count() or 2) // 2)
            self._build = lambda w, h: build_refiner(self.checkpoint, self.models, w, h, self.device,
                                                     self.params["backend"], threads)
            self.ready.set()
            while self.running:
                with self.lock:
                    while self.running and self.pending is None and not self.reset_requested:
                        self.lock.wait(0.2)
                    if not self.running:
                        return
                    if self.reset_requested:
                        n = self.tracks.reset()
                        self.detections.clear()  # queued detections would bring the cleared tracks back
                        self.reset_requested = False
                        self.get_logger().info(f"reset: cleared {n} tracks")
                    msg, self.pending = self.pending, None
                if msg is not None:
                    try:
                        self._process(msg)
                    except WorkerStopped:
                        raise
                    except BackendFailure as e:
                        self.health.backend_failed(time.monotonic(), str(e))
                        self.throttle.error("backend", f"frame not refined, the {self.params['backend']} backend "
                                                       f"failed: {e}")
                    except Exception as e:  # a bad frame must not stop the node
                        self.throttle.warn("process", f"frame skipped: {type(e).__name__}: {e}")
        except Exception as e:
            text = str(e) if isinstance(e, WorkerStopped) else f"{type(e).__name__}: {e}"
            self.health.worker_stopped(text)
            self.get_logger().error(f"refinement worker stopped: {text}; the node exits")
            self.fatal_error = text
            self.ready.set()
            self.publish_diagnostics()

    def _camera_info_for(self, msg: Image):
        """The CameraInfo with the image's stamp (within image_queue_slop_s); waits briefly for a late one."""
        t_img = conv.stamp_to_sec(msg.header.stamp)
        deadline = time.monotonic() + 0.1
        while True:
            with self.lock:
                best = min(self.infos, key=lambda i: abs(conv.stamp_to_sec(i.header.stamp) - t_img), default=None)
            if best is not None and abs(conv.stamp_to_sec(best.header.stamp) - t_img) <= self.params["image_queue_slop_s"]:
                return best
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)

    def _take_detections(self, frame_id: str, t_img: float) -> list[Detection]:
        """Detections stamped at or before the image, converted; bad ones are skipped with a warning.

        Arrays older than track_timeout_s are dropped: a track made from them would already have
        expired, and a late array must not bring back objects that left (or tracks a reset cleared)."""
        max_age = self.params["track_timeout_s"]
        with self.lock:
            arrays = [d for d in self.detections if conv.stamp_to_sec(d.header.stamp) <= t_img + 1e-6]
            for d in arrays:
                self.detections.remove(d)
        stale = [a for a in arrays if t_img - conv.stamp_to_sec(a.header.stamp) > max_age]
        if stale:
            self.throttle.warn("stale", f"{len(stale)} detection array(s) more than track_timeout_s = {max_age} s "
                                        "older than the image ignored")
            arrays = [a for a in arrays if a not in stale]
        # Only the newest array counts: when the frame an array came with was dropped, the next frame
        # finds two arrays of the same objects, and both would become tracks (duplicates).
        newest = max(arrays, key=lambda a: conv.stamp_to_sec(a.header.stamp), default=None)
        out = []
        for arr in [newest] if newest is not None else []:
            if arr.header.frame_id != frame_id:
                self.throttle.warn("frame", f"detections in frame '{arr.header.frame_id}' ignored: images are in "
                                            f"'{frame_id}' (detections must be in the camera's optical frame)")
                continue
            dets = list(arr.detections)
            if len(dets) > self.params["max_objects"]:
                self.throttle.warn("many", f"{len(dets)} detections in one message; keeping the "
                                           f"{self.params['max_objects']} best (max_objects)")
                dets.sort(key=lambda d: -(d.results[0].hypothesis.score if d.results else 0.0))
                dets = dets[: self.params["max_objects"]]
            for d in dets:
                if not d.results:
                    self.throttle.warn("empty", "a detection without results (class and pose) was ignored")
                    continue
                hyp = max(d.results, key=lambda r: r.hypothesis.score)
                cls = hyp.hypothesis.class_id
                if cls not in self.labels:
                    self.throttle.warn(f"class:{cls}", f"unknown class_id '{cls}' ignored (known: {sorted(self.labels)}; "
                                                       "see parameter object_labels)")
                    continue
                if hyp.hypothesis.score < self.params["score_threshold"]:
                    continue
                try:
                    T = conv.pose_to_matrix(hyp.pose.pose)
                except ValueError as e:
                    self.throttle.warn(f"pose:{str(e)[:24]}", f"detection of '{cls}' ignored: {e}")
                    continue
                if T[2, 3] <= 0 or T[2, 3] > 20.0:
                    self.throttle.warn("depth", f"detection of '{cls}' ignored: depth {T[2, 3]:.3f} m is not in (0, 20] "
                                                "(poses are in metres in the optical frame; mm given as m?)")
                    continue
                out.append(Detection(cls, self.labels[cls], T, float(hyp.hypothesis.score)))
        return out

    def _process(self, msg):
        t0 = time.perf_counter()
        try:
            rgb = camera.compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else camera.image_to_rgb(msg)
        except ValueError as e:
            self.throttle.warn("encoding", f"image skipped: {e}")
            return
        info = self._camera_info_for(msg)
        if info is None:
            self.throttle.warn("info", f"image skipped: no camera_info with its stamp {msg.header.stamp.sec}."
                                       f"{msg.header.stamp.nanosec:09d} yet (topic camera_info)")
            return
        if (info.width, info.height) != (rgb.shape[1], rgb.shape[0]):
            self.throttle.warn("size", f"image skipped: image is {rgb.shape[1]}x{rgb.shape[0]} but camera_info says "
                                       f"{info.width}x{info.height}")
            return
        try:
            K, _ = camera.camera_matrix(info)
        except ValueError as e:
            self.throttle.warn("K", f"image skipped: {e}")
            return
        if not self.warned_distortion and camera.has_distortion(info):
            self.warned_distortion = True
            self.get_logger().warning(f"camera_info has distortion D = {list(info.d)}: the node refines rectified "
                                      "images with P (subscribe it to a rectified topic such as image_proc's "
                                      "image_rect); raw distorted images give biased poses")
        stamp = conv.stamp_to_sec(msg.header.stamp)
        self.tracks.associate(self._take_detections(msg.header.frame_id, stamp), stamp)
        self.tracks.expire(stamp)
        tracks = list(self.tracks.tracks.values())
        results = []
        timings = {"render": 0.0, "network": 0.0}
        if tracks:
            if self.refiner is None or self.renderer_size != (rgb.shape[1], rgb.shape[0]):
                try:
                    self.refiner = self._build(rgb.shape[1], rgb.shape[0])
                except Exception as e:
                    raise WorkerStopped(f"the {self.params['backend']} backend could not be built: "
                                        f"{type(e).__name__}: {e}") from e
                self.renderer_size = (rgb.shape[1], rgb.shape[0])
                self.backend_device = getattr(self.refiner.model, "device", self.refiner.device)
                self.get_logger().info(f"{self.params['backend']} backend runs on {str(self.backend_device).upper()}"
                                       + (f" (onnxruntime providers {', '.join(self.refiner.model.providers)})"
                                          if self.params["backend"] == "onnx" else ""))
            from ..model import split_state, stack_states
            n_iter = self.params["iterations"] if any(t.fresh for t in tracks) else self.params["tracking_iterations"]
            stack = getattr(self.refiner.model, "recurrent", None)
            states = [t.state for t in tracks]
            state = stack_states(states, stack, self.refiner.device) if stack is not None else \
                (None if any(s is None for s in states) else tuple(torch.cat(z) for z in zip(*states)))
            try:
                out = self.refiner.run(rgb[None], np.repeat(K[None], len(tracks), 0),
                                       np.stack([t.pose for t in tracks]), np.array([t.obj_id for t in tracks]),
                                       n_iter, state=state or None, image_index=np.zeros(len(tracks), dtype=np.int64))
            except Exception as e:  # the tracks keep their pose and state from the last good frame
                raise BackendFailure(f"{type(e).__name__}: {e}") from e
            timings = out.timings_ms
            poses = out.poses[-1].cpu().numpy().astype(np.float64)
            per_state = split_state(out.state) if out.state else [None] * len(tracks)
            for i, t in enumerate(tracks):
                converged = bool(out.translation_update_mm[i] < self.params["convergence_translation_mm"]
                                 and out.rotation_update_deg[i] < self.params["convergence_rotation_deg"])
                inside = pose_in_image(poses[i], K, rgb.shape[1], rgb.shape[0])
                reinit = self.tracks.update(t, poses[i], per_state[i], float(out.translation_update_mm[i]),
                                            float(out.rotation_update_deg[i]), converged, inside, n_iter)
                if reinit:
                    self.throttle.warn(f"reinit:{t.track_id}", f"track {t.track_id} ({t.class_id}) re-initialized "
                                                               f"from its detection ({'left the image' if not inside else 'not converging'})")
                else:
                    results.append(t)
        total_ms = (time.perf_counter() - t0) * 1e3
        self._publish(msg, rgb, K, results, timings, total_ms)
        latency_ms = (self.get_clock().now().nanoseconds * 1e-9 - stamp) * 1e3
        self.health.frame_refined(time.monotonic(), total_ms, latency_ms, len(results))

    # ---- outputs ---------------------------------------------------------------------------------
    def _publish(self, msg, rgb, K, tracks, timings, total_ms):
        if not rclpy.ok():  # shutting down: the publishers' context is gone
            return
        header = msg.header
        arr = Detection3DArray()
        arr.header = header
        tfs = TFMessage()
        for t in tracks:
            d = Detection3D()
            d.header = header
            d.id = str(t.track_id)
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id = t.class_id
            hyp.hypothesis.score = float(t.score)
            hyp.pose.pose = conv.matrix_to_pose(t.pose, Pose)
            d.results.append(hyp)
            m = self.models[t.obj_id]
            lo, hi = m.vertices.min(0), m.vertices.max(0)
            centre = np.eye(4)
            centre[:3, 3] = (lo + hi) / 2
            d.bbox.center = conv.matrix_to_pose(t.pose @ centre, Pose)
            d.bbox.size.x, d.bbox.size.y, d.bbox.size.z = (float(v) for v in (hi - lo))
            arr.detections.append(d)
            tf = TransformStamped()
            tf.header = header
            tf.child_frame_id = f"{self.params['tf_prefix']}{t.class_id}_{t.track_id}"
            p = conv.matrix_to_pose(t.pose, Pose)
            tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = \
                p.position.x, p.position.y, p.position.z
            tf.transform.rotation = p.orientation
            tfs.transforms.append(tf)
        self.pub_det.publish(arr)
        if self.params["publish_tf"] and tfs.transforms:
            self.pub_tf.publish(tfs)
        status = RefinementStatus()
        status.header = header
        for t in tracks:
            o = ObjectRefinement()
            o.track_id, o.class_id = str(t.track_id), t.class_id
            o.iterations = int(t.iterations_run)
            o.translation_update_mm = float(t.last_translation_mm)
            o.rotation_update_deg = float(t.last_rotation_deg)
            o.converged = bool(t.converged)
            status.objects.append(o)
        status.render_ms = float(timings.get("render", 0.0))
        status.network_ms = float(timings.get("network", 0.0))
        status.total_ms = float(total_ms)
        status.dropped_frames = int(self.dropped)
        status.track_count = len(self.tracks.tracks)
        self.pub_status.publish(status)
        if self.params["publish_markers"] and self.pub_markers.get_subscription_count() > 0:
            self.pub_markers.publish(self._markers(header, tracks))
        if self.pub_overlay.get_subscription_count() > 0 and self.refiner is not None:
            from .overlay import draw_outlines
            img = draw_outlines(self.refiner.renderer, rgb, K, [(t.obj_id, t.pose) for t in tracks],
                                [f"{t.class_id}_{t.track_id}" for t in tracks])
            self.pub_overlay.publish(camera.rgb_to_image(Image, img, header))

    def _markers(self, header, tracks) -> MarkerArray:
        arr = MarkerArray()
        clear = Marker()
        clear.header = header
        clear.action = Marker.DELETEALL
        arr.markers.append(clear)
        for t in tracks:
            m = Marker()
            m.header = header
            m.ns = "deeprm"
            m.id = int(t.track_id)
            m.type = Marker.MESH_RESOURCE
            m.action = Marker.ADD
            m.pose = conv.matrix_to_pose(t.pose, Pose)
            mesh = self.models[t.obj_id]
            m.mesh_resource = f"file://{mesh.path}" if getattr(mesh, "path", None) else ""
            m.mesh_use_embedded_materials = True
            s = 1e-3 if self.params["mesh_unit"] == "mm" else 1.0
            m.scale.x = m.scale.y = m.scale.z = s
            m.color.r, m.color.g, m.color.b, m.color.a = 0.2, 0.8, 0.2, 0.8
            arr.markers.append(m)
        return arr

    def destroy_node(self):
        self.running = False
        if hasattr(self, "worker"):  # absent when start-up failed half way (bad parameter, file)
            with self.lock:
                self.lock.notify_all()
            self.worker.join(timeout=5.0)
        return super().destroy_node()


def main(args=None) -> int:
    from .process import run_node
    return run_node(RefinerNode, "deeprm_refiner", args, executor_threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
