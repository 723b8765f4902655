"""The node's health, for /diagnostics: what came in, what was refined, how fast, and what failed.

`HealthMonitor` is plain Python (no rclpy): the node records events and asks for a `HealthReport` once per
diagnostics period; `diagnostic_array` turns the report into the diagnostic_msgs/DiagnosticArray that
rqt_robot_monitor and the diagnostic aggregator read. Rates and latencies are taken over a sliding window.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

# diagnostic_msgs/DiagnosticStatus levels.
OK, WARN, ERROR, STALE = 0, 1, 2, 3


@dataclass
class HealthReport:
    level: int
    message: str
    values: dict = field(default_factory=dict)  # key -> value text, in display order


class HealthMonitor:
    """Thread-safe event counts: callbacks record arrivals and drops, the worker records refined frames and
    failures."""

    def __init__(self, window_s: float = 5.0):
        self.window_s = float(window_s)
        self._lock = threading.Lock()
        self._received = deque()      # arrival times (monotonic s) of images
        self._dropped = deque()       # times of images replaced in the queue of one before the worker took them
        self._frames = deque()        # (time, refine ms, stamp->publish latency ms, objects)
        self.dropped_total = 0
        self.failures_total = 0
        self._last_failure = None     # (time, text) of the latest backend failure
        self._last_success = None     # time of the latest frame refined without failure
        self.fatal = None             # text: the worker has stopped

    def _trim(self, now: float) -> None:
        for q in (self._received, self._dropped, self._frames):
            while q and (q[0] if not isinstance(q[0], tuple) else q[0][0]) < now - self.window_s:
                q.popleft()

    def image_received(self, now: float) -> None:
        with self._lock:
            self._received.append(now)

    def image_dropped(self, now: float) -> None:
        with self._lock:
            self._dropped.append(now)
            self.dropped_total += 1

    def frame_refined(self, now: float, refine_ms: float, latency_ms: float | None, objects: int) -> None:
        """latency_ms None: not measurable (simulation time before the first /clock message); left out of the
        mean instead of a sample against time 0."""
        with self._lock:
            self._frames.append((now, float(refine_ms), None if latency_ms is None else float(latency_ms),
                                 int(objects)))
            self._last_success = now

    def backend_failed(self, now: float, text: str) -> None:
        with self._lock:
            self.failures_total += 1
            self._last_failure = (now, text)

    def worker_stopped(self, text: str) -> None:
        with self._lock:
            self.fatal = text

    def report(self, now: float, tracks: int) -> HealthReport:
        with self._lock:
            self._trim(now)
            span = self.window_s
            frames = list(self._frames)
            values = {
                "refined frames per second": f"{len(frames) / span:.2f}",
                "images per second (input)": f"{len(self._received) / span:.2f}",
                "refine time mean (ms)": f"{_mean([f[1] for f in frames]):.1f}",
                "refine time max (ms)": f"{max((f[1] for f in frames), default=0.0):.1f}",
                "latency stamp to result mean (ms)": f"{_mean([f[2] for f in frames if f[2] is not None]):.1f}",
                f"dropped images (last {span:g} s)": str(len(self._dropped)),
                "dropped images (total)": str(self.dropped_total),
                "tracks": str(int(tracks)),
                "objects in last frame": str(frames[-1][3] if frames else 0),
                "backend failures (total)": str(self.failures_total),
            }
            failing = self._last_failure is not None and (
                self._last_success is None or self._last_success < self._last_failure[0])
            if self.fatal is not None:
                return HealthReport(ERROR, f"refinement worker stopped: {self.fatal}", values)
            if failing:
                return HealthReport(ERROR, f"backend failing: {self._last_failure[1]}", values)
            if not self._received:
                return HealthReport(WARN, f"no images in the last {span:g} s", values)
            if not frames:
                return HealthReport(WARN, f"images arrive but none was refined in the last {span:g} s "
                                          "(camera_info missing or images refused: see the log)", values)
            text = f"refining at {len(frames) / span:.1f} Hz"
            if self._dropped:
                text += f", {len(self._dropped)} of {len(self._received)} images dropped (camera faster than the refiner)"
            return HealthReport(OK, text, values)


def _mean(xs) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def diagnostic_array(report: HealthReport, name: str, hardware_id: str, stamp):
    """A diagnostic_msgs/DiagnosticArray holding the report as one DiagnosticStatus."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    status = DiagnosticStatus(level=bytes([report.level]), name=name, message=report.message,
                              hardware_id=hardware_id)
    status.values = [KeyValue(key=k, value=v) for k, v in report.values.items()]
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status]
    return arr
