"""A background thread that works in batches: each round takes everything
queued since the last one (up to a limit) and handles it at once, so that
one transaction serves many DHCP messages when they come fast.

Between batches it may do optional work (`idle`), which says when it wants
to run again; queued items always go first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Returns the seconds until it wants to run again, or None when it has
# nothing to do until `Batcher.nudge` is called.
IdleWork = Callable[[], float | None]


class Batcher(Generic[T]):
    def __init__(
        self,
        name: str,
        handle: Callable[[list[T]], None],
        limit: int,
        idle: IdleWork | None = None,
    ) -> None:
        self._handle = handle
        self._limit = limit
        self._idle = idle
        self._pending: list[T] = []
        self._wake = threading.Condition()
        self._stopping = False
        # When the last batch was handled (time.monotonic).
        self.last_batch = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        with self._wake:
            if self._stopping:
                raise RuntimeError(f"{self._thread.name} is stopped")
            self._pending.append(item)
            self._wake.notify()

    def nudge(self) -> None:
        """There is idle work to do."""
        with self._wake:
            self._wake.notify()

    def stop(self) -> None:
        """Handle what is queued, then end the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        rest: float | None = 0.0
        while True:
            with self._wake:
                if not self._pending and not self._stopping and rest != 0.0:
                    self._wake.wait(rest)
                if self._stopping and not self._pending:
                    return
                batch = self._pending[: self._limit]
                del self._pending[: self._limit]
            if batch:
                self._handle(batch)
                self.last_batch = time.monotonic()
                # A nudge may have come while handling: look for idle work.
                rest = 0.0
            else:
                rest = self._idle() if self._idle is not None else None
