"""The node's input side (deeprm_ros/ros/inputs.py) with real sensor_msgs/vision_msgs messages and real threads,
without rclpy: the queue of one, stamp pairing, detection hand-over, resets and stop."""
from __future__ import annotations

import threading
import time

from deeprm_ros.ros.inputs import FrameInputs


def _stamped(kind, stamp_s: float):
    msg = kind()
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp_s), int(round((stamp_s % 1) * 1e9))
    return msg


def _image(t):
    from sensor_msgs.msg import Image
    return _stamped(Image, t)


def _info(t):
    from sensor_msgs.msg import CameraInfo
    return _stamped(CameraInfo, t)


def _detections(t):
    from vision_msgs.msg import Detection3DArray
    return _stamped(Detection3DArray, t)


def test_a_newer_image_replaces_the_waiting_one_and_counts_as_dropped():
    inputs = FrameInputs()
    assert [inputs.put_image(_image(t)) for t in (1.0, 1.1, 1.2)] == [False, True, True]
    assert inputs.dropped == 2
    assert inputs.next_frame(on_reset=lambda: None).header.stamp.nanosec == 200_000_000
    assert inputs.next_frame(on_reset=lambda: None, timeout_s=0.01) is None  # nothing waiting: times out
    assert inputs.put_image(_image(1.3)) is False and inputs.dropped == 2


def test_camera_info_is_paired_by_the_nearest_stamp_within_the_slop():
    inputs = FrameInputs(info_history=3)
    for t in (1.0, 1.1, 1.2, 1.3):  # the oldest falls out of a history of 3
        inputs.put_info(_info(t))
    assert inputs.camera_info_for(1.19, slop_s=0.02).header.stamp.nanosec == 200_000_000
    assert inputs.camera_info_for(1.0, slop_s=0.02, wait_s=0.01) is None      # only in the lost history
    assert inputs.camera_info_for(1.25, slop_s=0.02, wait_s=0.01) is None     # between two: 50 ms off
    late = threading.Timer(0.05, inputs.put_info, args=(_info(2.0),))         # arrives while the worker waits
    late.start()
    found = inputs.camera_info_for(2.0, slop_s=0.0, wait_s=1.0)
    late.join()
    assert found is not None and found.header.stamp.sec == 2


def test_detections_up_to_the_image_are_handed_over_once_and_later_ones_stay():
    inputs = FrameInputs()
    for t in (1.0, 1.5, 2.5):
        inputs.put_detections(_detections(t))
    taken = inputs.take_detections(2.0)
    assert [d.header.stamp.sec + d.header.stamp.nanosec * 1e-9 for d in taken] == [1.0, 1.5]
    assert inputs.take_detections(2.0) == []
    assert len(inputs.take_detections(3.0)) == 1


def test_a_reset_runs_in_the_worker_before_the_request_returns_and_clears_queued_detections():
    inputs = FrameInputs()
    cleared = []

    def worker():
        while inputs.running:
            inputs.next_frame(on_reset=lambda: cleared.append(time.monotonic()), timeout_s=0.05)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        inputs.put_detections(_detections(1.0))
        assert inputs.request_reset(timeout_s=5.0) is True
        assert len(cleared) == 1 and inputs.take_detections(10.0) == []
    finally:
        inputs.stop()
        thread.join(timeout=5.0)
    assert not thread.is_alive()  # stop() woke the waiting worker


def test_a_reset_nobody_serves_reports_failure():
    inputs = FrameInputs()
    assert inputs.request_reset(timeout_s=0.05) is False
    assert inputs.reset_requested  # still pending: the worker will reset when it comes back


def test_a_late_reset_keeps_the_detections_that_came_after_it_was_asked_for():
    """The worker was busy when the reset was asked for (the request timed out): detections queued before the
    request go with the reset, ones that arrived after it are for the next frame and stay."""
    inputs = FrameInputs()
    before, after = _detections(1.0), _detections(2.0)
    inputs.put_detections(before)
    assert inputs.request_reset(timeout_s=0.01) is False     # no worker yet
    inputs.put_detections(after)
    inputs.put_image(_image(2.0))
    cleared = []
    assert inputs.next_frame(on_reset=lambda: cleared.append(True)) is not None
    assert cleared == [True] and not inputs.reset_requested
    assert inputs.take_detections(10.0) == [after]
