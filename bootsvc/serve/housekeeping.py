"""A protocol server and the housekeeping thread beside it, as the DHCP and
DHCPv6 services run them: `keep` every few seconds (re-read the CMDB and
other servers' leases, reclaim old ones), a failure logged and tried again
at the next turn, and `finish` once the server has stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bootsvc.logs import event
from bootsvc.serve import signals
from bootsvc.serve.gcpolicy import quiet_garbage_collector
from bootsvc.store.db import Database

# Leases that ended longer ago than this are deleted; until then a returning
# client gets its old address back.
RETAIN_SECONDS = 24 * 3600
# Other servers' clocks may lag ours a little, and a transaction may commit
# a while after it took its time stamp: re-read a bit before the last sync.
SYNC_OVERLAP_SECONDS = 10.0


class Serving(Protocol):
    def serve(self, stop: threading.Event) -> None: ...


class Sweeping(Protocol):
    def sweep(self, forget_before: float) -> None: ...


def reclaim_leases(
    db: Database,
    delete_ended: Callable[[Session, float], int],
    book: Sweeping | None,
    now: float,
) -> int:
    """Forget leases that ended more than RETAIN_SECONDS ago, in the database
    and in the server's memory (`book`, None in proxy mode); returns how many
    rows went."""
    if book is None:
        return 0
    with db.write() as session:
        removed = delete_ended(session, now - RETAIN_SECONDS)
    book.sweep(now - RETAIN_SECONDS)
    return removed


class KeptService:
    name: str
    server: Serving
    interval: float
    log: logging.Logger
    db: Database

    def open(self) -> None:
        """Read what the server needs, then bind its sockets."""

    def keep(self, now: float) -> None:
        """One turn of housekeeping."""

    def finish(self) -> None:
        """After the server stopped: commit what is queued."""

    def _housekeeping(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.keep(time.time())
            except Exception as exc:
                event(
                    self.log,
                    f"{self.name}.housekeeping-failed",
                    level=logging.ERROR,
                    error=f"{type(exc).__name__}: {exc}",
                )

    def run(self, stop: threading.Event) -> None:
        """Serve until `stop` is set; then `finish`."""
        keeper = threading.Thread(
            target=self._housekeeping, args=(stop,), name=f"{self.name}-housekeeping", daemon=True
        )
        keeper.start()
        try:
            self.server.serve(stop)
        finally:
            stop.set()
            keeper.join()
            self.finish()


def run_until_terminated(make: Callable[[], KeptService], **started: Any) -> None:
    """A `bootsvc serve` child: the service `make` returns runs until SIGTERM.
    Made once SIGTERM is taken care of: its threads must not receive it."""
    stop = signals.stop_event()
    service = make()
    service.open()
    quiet_garbage_collector()
    event(service.log, f"{service.name}.started", **started)
    service.run(stop)
    service.db.dispose()
