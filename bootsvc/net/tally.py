"""Counts kept per thread, so that counting takes no lock: a protocol server
counts from its receiving thread and from whichever thread a responder
answers from, and the sum is read rarely (tests, logs)."""

from __future__ import annotations

import threading
from collections import Counter


class ThreadTally:
    def __init__(self) -> None:
        self._counters: dict[int, Counter[str]] = {}

    def add(self, key: str) -> None:
        counter = self._counters.get(threading.get_ident())
        if counter is None:
            counter = self._counters.setdefault(threading.get_ident(), Counter())
        counter[key] += 1

    def total(self) -> Counter[str]:
        return sum(list(self._counters.values()), Counter())
