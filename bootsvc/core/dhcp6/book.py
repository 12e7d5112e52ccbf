"""DHCPv6 addresses taken, kept in memory, and the way to take one: memory
proposes an address without a query, the database decides when the client
REQUESTs (bootsvc.core.dhcp6.leases), as the IPv4 lease book does.

Commits go through one writer thread that takes everything queued since its
last transaction and commits it as one (bootsvc.core.dhcp.batches), and each
reply waits for its commit through a callback.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from ipaddress import IPv6Address
from typing import Any

from sqlalchemy.orm import Session

from bootsvc.core.dhcp.batches import Batcher
from bootsvc.core.dhcp6 import leases
from bootsvc.core.dhcp6.leases import Lease6
from bootsvc.logs import event
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND, DECLINED, OFFERED, RELEASED

log = logging.getLogger("bootsvc.dhcp6")

MAX_BATCH = 200
# How many addresses of a range an offer looks at before it gives up: a
# range is mostly free, so a probe from a hash of the client finds one soon.
MAX_PROBES = 4096

Outcome = list[Lease6] | Exception | None
ClaimsDone = Callable[[list[Lease6] | Exception], None]
EndDone = Callable[[Exception | None], None]


@dataclass(frozen=True)
class Range6:
    """The addresses bootsvc hands out on one IPv6 subnet."""

    subnet: str
    first: IPv6Address
    last: IPv6Address

    def __contains__(self, address: str) -> bool:
        return self.first <= IPv6Address(address) <= self.last

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def at(self, index: int) -> str:
        return str(IPv6Address(int(self.first) + index % self.size))


@dataclass(slots=True)
class _Job:
    work: Callable[[Session, float], Any]
    done: Callable[[Any], None]


class Dhcp6Book:
    def __init__(
        self,
        db: Database,
        offer_seconds: float,
        decline_seconds: float,
        clock: Callable[[], float] = time.time,
        server: str | None = None,
    ) -> None:
        self.db = db
        self.offer_seconds = offer_seconds
        self.decline_seconds = decline_seconds
        self.clock = clock
        self.server = server or f"{socket.gethostname()}/{os.getpid()}"
        self.by_address: dict[str, Lease6] = {}
        self.by_client: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()
        self._batcher: Batcher[_Job] = Batcher("dhcp6-lease-writer", self._commit, MAX_BATCH)

    def stop(self) -> None:
        """Commit what is queued, then end the writer thread."""
        self._batcher.stop()

    def _commit(self, batch: list[_Job]) -> None:
        now = self.clock()
        results: list[Any] | Exception
        try:
            with self.db.write() as session:
                results = [job.work(session, now) for job in batch]
        except Exception as exc:
            event(
                log,
                "dhcp6.lease-commit-failed",
                level=logging.WARNING,
                size=len(batch),
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
            results = exc
        for index, job in enumerate(batch):
            try:
                job.done(results if isinstance(results, Exception) else results[index])
            except Exception as exc:
                event(log, "dhcp6.callback-failed", level=logging.ERROR, error=repr(exc))

    def load(self, rows: Iterable[Lease6]) -> None:
        with self._lock:
            for lease in rows:
                self._apply(lease)

    def sync(self, since: float | None) -> None:
        """Take the rows other servers changed since `since` (all when None)."""
        other = None if since is None else self.server
        with self.db.read() as session:
            self.load(leases.rows(session, since=since, not_by=other))

    def _apply(self, lease: Lease6, force: bool = False) -> None:
        current = self.by_address.get(lease.address)
        if current is not None and not force and current.updated > lease.updated:
            return
        self.by_address[lease.address] = lease
        if lease.state != DECLINED:
            self.by_client[(lease.duid, lease.iaid)] = lease.address

    def sweep(self, forget_before: float) -> None:
        with self._lock:
            for address in [a for a, x in self.by_address.items() if x.expires < forget_before]:
                lease = self.by_address.pop(address)
                if self.by_client.get((lease.duid, lease.iaid)) == address:
                    del self.by_client[(lease.duid, lease.iaid)]

    def current(self, duid: str, iaid: int) -> Lease6 | None:
        """The lease this client's IA holds now, as far as memory knows."""
        address = self.by_client.get((duid, iaid))
        lease = self.by_address.get(address) if address else None
        return lease if lease is not None and lease.held_by(duid, iaid, self.clock()) else None

    def usable(
        self,
        address: str,
        duid: str,
        iaid: int,
        blocked: Callable[[str], bool],
        hostname: str | None = None,
    ) -> bool:
        """Whether this IA (of node `hostname`, if a node) may have `address`."""
        lease = self.by_address.get(address)
        free = lease is None or lease.movable_to(duid, iaid, hostname, self.clock())
        return free and not blocked(address)

    def offer(
        self,
        pool: Range6,
        duid: str,
        iaid: int,
        mac: str | None,
        wanted: list[str],
        blocked: Callable[[str], bool],
        hostname: str | None = None,
    ) -> Lease6 | None:
        """Hold an address for this IA (of node `hostname`, if a node) for the
        offer time: the first of `wanted` that is free or the node's, else
        its previous one, else one from the range. None when nothing is free."""
        previous = self.by_client.get((duid, iaid))
        candidates = [*wanted, *([previous] if previous and previous in pool else [])]
        with self._lock:
            chosen = next(
                (a for a in candidates if self.usable(a, duid, iaid, blocked, hostname)), None
            )
            if chosen is None:
                start = zlib.crc32(f"{duid}/{iaid}".encode())
                for step in range(min(pool.size, MAX_PROBES)):
                    address = pool.at(start + step)
                    if self.usable(address, duid, iaid, blocked, hostname):
                        chosen = address
                        break
            if chosen is None:
                return None
            now = self.clock()
            held = self.by_address.get(chosen)
            if held is not None and held.held_by(duid, iaid, now) and held.state == BOUND:
                return held
            offer = Lease6(
                chosen,
                duid,
                iaid,
                mac,
                pool.subnet,
                OFFERED,
                now + self.offer_seconds,
                now,
                hostname,
            )
            self._apply(offer, force=True)
        return offer

    def bind(self, claims: list[Lease6], done: ClaimsDone) -> None:
        """Take or extend each claim's address in one commit; `done` gets the
        rows as they stand (another client's where a claim lost)."""

        def committed(outcome: list[Lease6] | Exception) -> None:
            if not isinstance(outcome, Exception):
                with self._lock:
                    for lease in outcome:
                        self._apply(lease, force=True)
            done(outcome)

        self._batcher.put(
            _Job(lambda session, now: leases.claim(session, claims, now, self.server), committed)
        )

    def end(self, ended: list[tuple[str, str, int]], declined: bool, done: EndDone) -> None:
        """Release or decline each (address, duid, iaid) the client holds."""
        state, hold = (DECLINED, self.decline_seconds) if declined else (RELEASED, 0.0)

        def work(session: Session, now: float) -> None:
            leases.end(session, ended, state, now + hold, now, self.server)

        def committed(outcome: Exception | None) -> None:
            if outcome is None:
                now = self.clock()
                with self._lock:
                    for address, duid, iaid in ended:
                        lease = self.by_address.get(address)
                        if lease is not None and lease.held_by(duid, iaid, now):
                            self.by_address[address] = replace(
                                lease, state=state, expires=now + hold, updated=now
                            )
            done(outcome)

        self._batcher.put(_Job(work, committed))
