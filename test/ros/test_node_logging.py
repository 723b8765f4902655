"""What the refiner tells its user in the log: one INFO line once it is ready (checkpoint, objects, backend,
topics), and at `--log-level debug` a line per refined frame."""
from __future__ import annotations

from .test_node_live import LABELS, _frame, _start, _stop, _t0


def test_ready_line_at_info_and_a_line_per_frame_at_debug(ros_prefix):
    proc, feeder = _start(ros_prefix, "iterations:=1", "tracking_iterations:=1", "backend:=onnx", LABELS,
                          ros_args=("--log-level", "deeprm_refiner:=debug"))
    try:
        feeder.wait_for_node()
        ready = proc.wait_for_log("ready: checkpoint", 0, timeout=60)
        line = next(ln for ln in ready.splitlines() if "ready: checkpoint" in ln)
        assert "[INFO]" in line and "4 objects" in line and "backend onnx" in line and "/image" in line, line
        start = len(proc.lines)
        stamp = _frame(feeder, _t0())
        feeder.wait_result(stamp, timeout=120)
        log = proc.wait_for_log("tracks refined in", start, timeout=30)
        frame_line = next(ln for ln in log.splitlines() if "tracks refined in" in ln)
        assert "[DEBUG]" in frame_line and "4 tracks" in frame_line, frame_line
    finally:
        _stop(proc, feeder)


def test_no_frame_lines_at_the_default_level(ros_prefix):
    proc, feeder = _start(ros_prefix, "iterations:=1", "tracking_iterations:=1", "backend:=onnx", LABELS)
    try:
        feeder.wait_for_node()
        stamp = _frame(feeder, _t0())
        feeder.wait_result(stamp, timeout=120)
        feeder.spin_for(1.0)
        assert "ready: checkpoint" in proc.log_since(0)
        assert "tracks refined in" not in proc.log_since(0)
    finally:
        _stop(proc, feeder)
