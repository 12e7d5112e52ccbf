"""Group commit for lease changes.

A commit per DHCP message would cap the server at a few hundred messages a
second (and PostgreSQL's fsync makes it worse). Instead, worker threads hand
their claims, releases and declines to one writer thread and wait; the writer
takes everything that queued up while the previous transaction ran and
commits it as one. Under load batches grow and the cost per message falls;
when idle a batch is a single message and costs one commit as before. Nothing
is answered before its commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.batches import Batcher
from bootsvc.core.dhcp.leases import DECLINED, RELEASED, Lease
from bootsvc.logs import event
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.dhcp")

MAX_BATCH = 500
ATTEMPTS = 3


@dataclass(slots=True)
class _Ending:
    ip: str
    mac: str
    state: str
    # Seconds from the commit until the address is free again.
    hold: float
    done: Future[None] = field(default_factory=Future)


@dataclass(slots=True)
class _Claim:
    lease: Lease
    done: Future[Lease] = field(default_factory=Future)


class LeaseWriter:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self.batches = 0
        self._batcher: Batcher[_Claim | _Ending] = Batcher(
            "dhcp-lease-writer", self._commit, MAX_BATCH
        )

    def claim(self, lease: Lease) -> Future[Lease]:
        item = _Claim(lease)
        self._batcher.put(item)
        return item.done

    def release(self, ip: str, mac: str) -> Future[None]:
        return self._end(_Ending(ip, mac, RELEASED, 0.0))

    def decline(self, ip: str, mac: str, hold: float) -> Future[None]:
        return self._end(_Ending(ip, mac, DECLINED, hold))

    def _end(self, item: _Ending) -> Future[None]:
        self._batcher.put(item)
        return item.done

    def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        self._batcher.stop()

    def _commit(self, batch: list[_Claim | _Ending]) -> None:
        claims = [item for item in batch if isinstance(item, _Claim)]
        endings = [item for item in batch if isinstance(item, _Ending)]
        for attempt in range(1, ATTEMPTS + 1):
            try:
                results = self._transaction(claims, endings)
                break
            except DBAPIError as exc:
                # A deadlock or serialization failure between two servers
                # rolls back the whole batch; running it again is safe.
                failure: Exception = exc
                reason = " ".join(str(exc.orig).split())[:200]
                final = attempt == ATTEMPTS
            except Exception as exc:
                failure, reason, final = exc, f"{type(exc).__name__}: {exc}", True
            event(
                log,
                "dhcp.lease-commit-failed",
                level=logging.WARNING,
                attempt=attempt,
                size=len(batch),
                error=reason,
            )
            if final:
                for item in batch:
                    item.done.set_exception(failure)
                return
        self.batches += 1
        for claim, result in zip(claims, results, strict=True):
            claim.done.set_result(result)
        for ending in endings:
            ending.done.set_result(None)

    def _transaction(self, claims: list[_Claim], endings: list[_Ending]) -> list[Lease]:
        now = self.clock()
        with self.db.write() as session:
            results = leases.claim(session, [c.lease for c in claims], now)
            groups: dict[tuple[str, float], list[tuple[str, str]]] = {}
            for item in endings:
                groups.setdefault((item.state, item.hold), []).append((item.ip, item.mac))
            for (state, hold), pairs in groups.items():
                leases.end(session, pairs, state, now + hold, now)
        return results
