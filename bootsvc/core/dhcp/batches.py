"""A background thread that works in batches: each round takes everything
queued since the last one (up to a limit) and handles it at once, so that
one transaction serves many DHCP messages when they come fast."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(self, name: str, handle: Callable[[list[T]], None], limit: int) -> None:
        self._handle = handle
        self._limit = limit
        self._pending: list[T] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        with self._wake:
            if self._stopping:
                raise RuntimeError(f"{self._thread.name} is stopped")
            self._pending.append(item)
            self._wake.notify()

    def stop(self) -> None:
        """Handle what is queued, then end the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if not self._pending:
                    return
                batch = self._pending[: self._limit]
                del self._pending[: self._limit]
            self._handle(batch)
