"""The node's log throttle (deeprm_ros/ros/throttle.py) against a reference of its rule, without rclpy."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deeprm_ros.ros.throttle import Throttle

FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Lines:
    """A logger that keeps what it is given, by level."""

    def __init__(self):
        self.warnings, self.errors = [], []

    def warning(self, text):
        self.warnings.append(text)

    def error(self, text):
        self.errors.append(text)


@FEW
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0.0, 3.0)), max_size=40), st.floats(0.1, 2.0))
def test_throttle_logs_at_most_once_per_key_and_period(calls, period):
    now = [1000.0]
    logger = Lines()
    th = Throttle(logger, period_s=period, clock=lambda: now[0])
    for key, dt in calls:
        now[0] += dt
        th.warn(key, f"{key}@{now[0]!r}")
    expected, last, t = [], {}, 1000.0  # the reference: a key's line is logged when its last one is period old
    for key, dt in calls:
        t += dt
        if key not in last or t - last[key] >= period:
            last[key] = t
            expected.append(f"{key}@{t!r}")
    assert logger.warnings == expected and logger.errors == []


def test_errors_and_warnings_share_the_rule_per_key():
    now = [0.0]
    logger = Lines()
    th = Throttle(logger, period_s=2.0, clock=lambda: now[0])
    th.error("backend", "e1")
    th.error("backend", "e2")      # same key, 0 s later: dropped
    th.warn("input", "w1")         # another key: logged
    now[0] = 2.0
    th.error("backend", "e3")      # a period later: logged
    assert logger.errors == ["e1", "e3"] and logger.warnings == ["w1"]
