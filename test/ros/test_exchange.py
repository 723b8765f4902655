"""Two real processes exchange vision_msgs/Detection3DArray, tf2_msgs/TFMessage on /tf and /tf_static, and
deeprm_ros/RefinementStatus; the /tf_static subscriber joins after the message was published and still gets it
(transient local). Waits are for matches and messages (with deadlines), never fixed sleeps."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path


PEER = Path(__file__).with_name("exchange_peer.py")
DEADLINE_S = 90.0


def _load_peer():
    spec = importlib.util.spec_from_file_location("deeprm_test_exchange_peer", PEER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Proc:
    """A child process whose stdout lines are read by a thread (so reads can have deadlines)."""

    def __init__(self, role: str, cwd: Path):
        self.p = subprocess.Popen([sys.executable, str(PEER), role], cwd=cwd, env=dict(os.environ),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._pump, args=(self.p.stdout, self.lines.put, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.p.stderr, self.err.append, False), daemon=True).start()

    @staticmethod
    def _pump(stream, sink, mark_end):
        for line in stream:
            sink(line.rstrip("\n"))
        if mark_end:
            sink(None)

    def expect(self, prefix: str, deadline: float) -> str:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no '{prefix}' line in time; stderr:\n" + "\n".join(self.err[-30:]))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.p.wait(timeout=10)
                raise AssertionError(f"process ended (rc={self.p.returncode}) before '{prefix}'; stderr:\n"
                                     + "\n".join(self.err[-30:]))
            if line.startswith(prefix):
                return line

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
                self.p.wait(timeout=15)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                self.p.kill()   # only this process, which this test started
                self.p.wait(timeout=10)


def _close(a, b, path=""):
    """Recursive equality with float tolerance (float32 fields compare at float32 precision)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_messages_cross_processes_and_tf_static_reaches_a_late_subscriber(ros_prefix, tmp_path):
    import deeprm_ros

    # The installed package (with its generated messages), not the source folder.
    assert Path(deeprm_ros.__file__).resolve().is_relative_to(ros_prefix.resolve()), deeprm_ros.__file__
    peer = _load_peer()
    expected = {topic: peer.to_dict(m) for topic, m in peer.make_messages().items()}

    deadline = time.monotonic() + DEADLINE_S
    talker = Proc("talker", tmp_path)
    listener = None
    try:
        # /tf_static is published before the listener process even exists.
        talker.expect("STATIC_PUBLISHED", deadline)
        listener = Proc("listener", tmp_path)
        got, matched = {}, False
        while len(got) < len(expected):
            # MATCHED (every subscription has its publisher) may come before or after the transient-local
            # /tf_static sample: read both kinds of line in one loop.
            line = listener.expect("", deadline)
            if line == "MATCHED":
                matched = True
            elif line.startswith("{"):
                item = json.loads(line)
                got[item["topic"]] = item["msg"]
        listener.p.wait(timeout=max(1.0, deadline - time.monotonic()))
        assert listener.p.returncode == 0, "\n".join(listener.err[-30:])
        while not matched:  # the rest of its output, up to the end-of-stream mark
            line = listener.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "the listener never reported MATCHED"
            matched = line == "MATCHED"
    finally:
        if listener is not None:
            listener.stop()
        talker.stop()

    assert set(got) == set(expected)
    for topic in expected:
        _close(expected[topic], got[topic], topic)

    # Spot checks that read like the field layout of the real packages.
    det = got["/detections"]
    assert det["header"]["frame_id"] == "camera_color_optical_frame"
    assert det["header"]["stamp"] == {"sec": 1712345678, "nanosec": 123456789}
    assert [d["id"] for d in det["detections"]] == ["det-0", "det-1"]
    hyp = det["detections"][0]["results"][0]
    assert hyp["hypothesis"] == {"class_id": "mug", "score": 0.875}
    assert hyp["pose"]["pose"]["orientation"] == {"x": 0.5, "y": -0.5, "z": 0.5, "w": 0.5}
    assert len(hyp["pose"]["covariance"]) == 36 and hyp["pose"]["covariance"][35] == 3.5
    assert det["detections"][1]["bbox"]["size"] == {"x": 0.08, "y": 0.09, "z": 1.1}
    static = got["/tf_static"]["transforms"]
    assert [(t["header"]["frame_id"], t["child_frame_id"]) for t in static] == [
        ("base_link", "camera_link"), ("camera_link", "camera_color_optical_frame")]
    assert got["/tf"]["transforms"][0]["child_frame_id"] == "deeprm_mug_1"
    status = got["/refinement_status"]
    assert (status["dropped_frames"], status["track_count"]) == (7, 2)
    assert [(o["track_id"], o["converged"]) for o in status["objects"]] == [("1", True), ("2", False)]
