"""A log throttle: bad input arrives at camera rate, and one line per problem and period is enough."""
from __future__ import annotations

import time


class Throttle:
    """At most one log line per key and period, so a flood of bad input cannot flood the log. logger: anything
    with warning() and error() (an rclpy logger); clock: seconds, monotonic."""

    def __init__(self, logger, period_s: float = 2.0, clock=time.monotonic):
        self.logger, self.period, self.clock, self.last = logger, period_s, clock, {}

    def warn(self, key: str, text: str) -> None:
        self._log(self.logger.warning, key, text)

    def error(self, key: str, text: str) -> None:
        self._log(self.logger.error, key, text)

    def _log(self, log, key: str, text: str) -> None:
        now = self.clock()
        if now - self.last.get(key, -1e9) >= self.period:
            self.last[key] = now
            log(text)
