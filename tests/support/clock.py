"""A clock a test moves by hand, for code that takes a `clock=` callable."""

from __future__ import annotations

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
