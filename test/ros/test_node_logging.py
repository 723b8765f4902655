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


def test_backend_auto_says_which_backend_it_chose(ros_prefix, expected_cpu_backend):
    """backend:=auto: the log line after the first frame and /diagnostics name the backend that runs (onnx on a
    CPU without native bf16, openvino with it: the kernel's CPU flags say which)."""
    from diagnostic_msgs.msg import DiagnosticArray

    expected = expected_cpu_backend
    proc, feeder = _start(ros_prefix, "iterations:=1", "tracking_iterations:=1", "backend:=auto", "device:=cpu",
                          LABELS, "diagnostics_period_s:=0.5")
    try:
        diagnostics = []
        feeder.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
        feeder.wait_for_node()
        stamp = _frame(feeder, _t0())
        feeder.wait_result(stamp, timeout=120)
        log = proc.wait_for_log("(backend auto) runs on", 0, timeout=30)
        assert f"{expected} backend (backend auto) runs on CPU" in log, log
        n = len(diagnostics)
        feeder.spin_until(lambda: len(diagnostics) > n, 10, "/diagnostics after the first frame")
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        assert values["backend"] == f"{expected} on cpu"
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


def test_simulation_time_without_clock_keeps_diagnostics_and_sane_latency(ros_prefix):
    """use_sim_time:=true: /diagnostics keeps coming while no /clock is published (its timer is steady), a frame
    refined before the first /clock is left out of the latency, and once /clock runs the latency is the
    simulated stamp-to-result time (here under a second), not a number against time 0."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rosgraph_msgs.msg import Clock

    proc, feeder = _start(ros_prefix, "iterations:=1", "tracking_iterations:=1", "backend:=onnx", LABELS,
                          "use_sim_time:=true", "diagnostics_period_s:=0.5")
    try:
        diagnostics = []
        feeder.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
        feeder.wait_for_node()
        feeder.spin_until(lambda: len(diagnostics) >= 3, 20, "/diagnostics without /clock")
        stamp = _frame(feeder, _t0())                    # refined while the node's clock reads 0
        feeder.wait_result(stamp, timeout=120)
        clock_pub = feeder.node.create_publisher(Clock, "/clock", 10)
        t = float(stamp[0]) + stamp[1] * 1e-9 + 5.0
        for _ in range(20):                              # the clock starts, 5 s after that frame
            clock_pub.publish(Clock(clock=feeder.header(t).stamp))
            feeder.spin_for(0.05)
        stamp2 = _frame(feeder, t)
        feeder.wait_result(stamp2, timeout=120)
        for _ in range(10):                              # the result comes 0.3 simulated seconds after its stamp
            clock_pub.publish(Clock(clock=feeder.header(t + 0.3).stamp))
            feeder.spin_for(0.1)
        n = len(diagnostics)
        feeder.spin_until(lambda: len(diagnostics) > n + 1, 20, "/diagnostics after /clock")
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        latency = float(values["latency stamp to result mean (ms)"])
        assert 0.0 <= latency < 1000.0, values
    finally:
        _stop(proc, feeder)


def test_a_params_file_for_another_node_and_a_mistyped_name_are_logged(ros_prefix, tmp_path):
    """rcl ignores both without a word: the node names them at start-up."""
    from .node_harness import NodeProcess

    wrong = tmp_path / "my_refiner.yaml"
    wrong.write_text("deeprm_refinr:\n  ros__parameters:\n    iterations: 8\n")
    proc = NodeProcess(ros_prefix, "iteratons:=3", "backend:=onnx", ros_args=("--params-file", str(wrong)))
    try:
        log = proc.wait_for_log("ready: checkpoint", 0, timeout=60)
        lines = log.splitlines()
        section = [ln for ln in lines if str(wrong) in ln and "no section names this node /deeprm_refiner" in ln]
        unknown = [ln for ln in lines if "unknown parameter 'iteratons'" in ln and "did you mean 'iterations'" in ln]
        assert section and "[WARN]" in section[0], log[-2000:]
        assert unknown and "[WARN]" in unknown[0], log[-2000:]
        assert "4 iterations" in next(ln for ln in lines if "ready: checkpoint" in ln)  # the defaults, as warned
    finally:
        proc.stop()
