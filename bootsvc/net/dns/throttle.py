"""One log line per kind of trouble per interval, however many packets cause
it: a flood of garbage must not become a flood of log lines."""

from __future__ import annotations

import logging
import time
from typing import Any

from bootsvc.logs import event


class ThrottledLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def event(self, name: str, /, level: int = logging.WARNING, **fields: Any) -> None:
        """Log now, or count the event into the next line that is logged."""
        now = time.monotonic()
        last = self._last.get(name)
        if last is not None and now - last < self.interval:
            self._suppressed[name] = self._suppressed.get(name, 0) + 1
            return
        self._last[name] = now
        suppressed = self._suppressed.pop(name, 0)
        event(self.logger, name, level=level, suppressed=suppressed or None, **fields)
