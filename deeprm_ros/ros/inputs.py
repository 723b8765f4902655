"""The node's input side, between the subscription callbacks and the worker: the newest image waiting (a queue of
one: a newer image replaces it and counts as dropped), recent CameraInfo messages paired with images by stamp,
the detection arrays not used yet, and reset requests. Thread-safe (callbacks put, the worker takes), no rclpy."""
from __future__ import annotations

import threading
import time
from collections import deque

from .conversions import stamp_to_sec


class FrameInputs:
    def __init__(self, info_history: int = 30, detection_history: int = 10):
        self.lock = threading.Condition()
        self.pending = None
        self.infos = deque(maxlen=info_history)
        self.detections = deque(maxlen=detection_history)
        self.dropped = 0
        self.reset_requested = False
        self.cleared_by_reset = []   # the detection arrays queued when a reset was asked for
        self.running = True

    def put_image(self, msg) -> bool:
        """Queue `msg` for the worker; True when it replaced an image the worker had not taken (a drop)."""
        with self.lock:
            replaced = self.pending is not None
            self.dropped += replaced
            self.pending = msg
            self.lock.notify_all()
        return replaced

    def put_info(self, msg) -> None:
        with self.lock:
            self.infos.append(msg)

    def put_detections(self, msg) -> None:
        with self.lock:
            self.detections.append(msg)
            self.lock.notify_all()

    def next_frame(self, on_reset, timeout_s: float = 0.2):
        """The worker's wait: the image to refine next, or None after timeout_s, a reset or stop(). A requested
        reset runs first: on_reset() is called under the lock and the detections that were queued when it was asked
        for are cleared with it (they would bring the cleared tracks back; ones that came after the request, while
        the worker was busy, belong to the frames after the reset and stay), and only then is the request marked
        done."""
        with self.lock:
            if self.running and self.pending is None and not self.reset_requested:
                self.lock.wait(timeout_s)
            if self.reset_requested:
                on_reset()
                stale = {id(d) for d in self.cleared_by_reset}   # by identity: messages compare by value
                kept = [d for d in self.detections if id(d) not in stale]
                self.detections.clear()
                self.detections.extend(kept)
                self.cleared_by_reset = []
                self.reset_requested = False
                self.lock.notify_all()
            msg, self.pending = self.pending, None
            return msg

    def request_reset(self, timeout_s: float = 5.0) -> bool:
        """Ask the worker to reset and wait for it; False when it was busy for timeout_s (it resets later)."""
        deadline = time.monotonic() + timeout_s
        with self.lock:
            self.reset_requested = True
            self.cleared_by_reset.extend(self.detections)
            self.lock.notify_all()
            while self.reset_requested and self.running and time.monotonic() < deadline:
                self.lock.wait(max(0.0, deadline - time.monotonic()))
            return not self.reset_requested

    def camera_info_for(self, stamp_s: float, slop_s: float, wait_s: float = 0.1):
        """The CameraInfo whose stamp is nearest stamp_s, when within slop_s; waits up to wait_s for a late one."""
        deadline = time.monotonic() + wait_s
        while True:
            with self.lock:
                best = min(self.infos, key=lambda i: abs(stamp_to_sec(i.header.stamp) - stamp_s), default=None)
            if best is not None and abs(stamp_to_sec(best.header.stamp) - stamp_s) <= slop_s:
                return best
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)

    def take_detections(self, stamp_s: float) -> list:
        """The detection arrays stamped at or before stamp_s, removed from the queue (later ones stay)."""
        with self.lock:
            arrays = [d for d in self.detections if stamp_to_sec(d.header.stamp) <= stamp_s + 1e-6]
            for d in arrays:
                self.detections.remove(d)
        return arrays

    def stop(self) -> None:
        with self.lock:
            self.running = False
            self.lock.notify_all()
