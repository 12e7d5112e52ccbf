"""Group commit for lease changes.

A commit per DHCP message would cap the server at a few hundred messages a
second (and PostgreSQL's fsync makes it worse). Instead, lease changes queue
up for one writer thread; it takes everything that queued while the previous
transaction ran and commits it as one, then calls each change's callback.
Under load batches grow and the cost per message falls; when idle a batch is
a single message and costs one commit as before. Nothing is answered before
its commit: the callbacks are what send the replies.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.batches import Batcher, IdleWork
from bootsvc.core.dhcp.leases import Lease
from bootsvc.logs import event
from bootsvc.store.db import Database
from bootsvc.store.leasetables import DECLINED, RELEASED

log = logging.getLogger("bootsvc.dhcp")

MAX_BATCH = 500
T = TypeVar("T")
ATTEMPTS = 3

ClaimDone = Callable[[Lease | Exception], None]
EndDone = Callable[[Exception | None], None]


@dataclass(slots=True)
class _Ending:
    ip: str
    mac: str
    state: str
    # Seconds from the commit until the address is free again.
    hold: float
    done: EndDone


@dataclass(slots=True)
class _Claim:
    lease: Lease
    done: ClaimDone


class LeaseWriter:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], float] = time.time,
        idle: IdleWork | None = None,
        server: str | None = None,
    ) -> None:
        """`idle` is other database work done while no lease change waits
        (enlisting), so that on SQLite it never holds the write lock that a
        lease commit needs. `server` names this process in the rows it writes."""
        self.db = db
        self.server = server or f"{socket.gethostname()}/{os.getpid()}"
        self.clock = clock
        self.batches = 0
        self._batcher: Batcher[_Claim | _Ending] = Batcher(
            "dhcp-lease-writer", self._commit, MAX_BATCH, idle
        )

    def busy(self, within: float) -> bool:
        """Whether a lease change was committed in the last `within` seconds."""
        return time.monotonic() - self._batcher.last_batch < within

    def nudge(self) -> None:
        """New idle work is waiting."""
        self._batcher.nudge()

    def claim(self, lease: Lease, done: ClaimDone) -> None:
        """Take `lease.ip` for `lease.mac`; `done` gets the row as the
        database has it afterwards (another MAC's when the claim lost)."""
        self._batcher.put(_Claim(lease, done))

    def release(self, ip: str, mac: str, done: EndDone) -> None:
        self._batcher.put(_Ending(ip, mac, RELEASED, 0.0, done))

    def decline(self, ip: str, mac: str, hold: float, done: EndDone) -> None:
        self._batcher.put(_Ending(ip, mac, DECLINED, hold, done))

    def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        self._batcher.stop()

    def _commit(self, batch: list[_Claim | _Ending]) -> None:
        claims = [item for item in batch if isinstance(item, _Claim)]
        endings = [item for item in batch if isinstance(item, _Ending)]
        outcome: list[Lease] | Exception = []
        for attempt in range(1, ATTEMPTS + 1):
            try:
                outcome = self._transaction(claims, endings)
                break
            except DBAPIError as exc:
                # A deadlock or serialization failure between two servers
                # rolls back the whole batch; running it again is safe.
                outcome, reason, final = exc, " ".join(str(exc.orig).split()), attempt == ATTEMPTS
            except Exception as exc:
                outcome, reason, final = exc, f"{type(exc).__name__}: {exc}", True
            event(
                log,
                "dhcp.lease-commit-failed",
                level=logging.WARNING,
                attempt=attempt,
                size=len(batch),
                error=reason[:300],
            )
            if final:
                break
        self.batches += 1
        failed = outcome if isinstance(outcome, Exception) else None
        for index, claim in enumerate(claims):
            self._call(claim.done, failed or outcome[index])  # type: ignore[index]
        for ending in endings:
            self._call(ending.done, failed)

    def _call(self, done: Callable[[T], None], value: T) -> None:
        try:
            done(value)
        except Exception as exc:
            event(
                log,
                "dhcp.callback-failed",
                level=logging.ERROR,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _transaction(self, claims: list[_Claim], endings: list[_Ending]) -> list[Lease]:
        now = self.clock()
        with self.db.write() as session:
            results = leases.claim(session, [c.lease for c in claims], now, self.server)
            groups: dict[tuple[str, float], list[tuple[str, str]]] = {}
            for item in endings:
                groups.setdefault((item.state, item.hold), []).append((item.ip, item.mac))
            for (state, hold), pairs in groups.items():
                leases.end(session, pairs, state, now + hold, now, self.server)
        return results
