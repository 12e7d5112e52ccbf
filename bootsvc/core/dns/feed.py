"""The DNS server's view of the CMDB, rebuilt only when the CMDB changes.

Every CMDB change writes an audit entry in its own transaction, so the audit
log tells us cheaply whether anything changed. `max(id)` alone is not
enough on PostgreSQL: ids come from a sequence when a row is inserted, and
a transaction that took id 10 may commit after the one that took id 11, so
a reader that already saw 11 would never notice 10. The stamp is therefore
(max id, number of ids) over a window of recent ids: a late commit inside
the window changes the count. (SQLite serialises writers, so there ids
always arrive in order.) One indexed range query answers it.

`current()` checks at most once per refresh interval; `latest()` always
checks, and the server calls it before every negative answer, so a node
added through the API resolves on the very next query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bootsvc.core.dns import records as dnsrecords
from bootsvc.core.dns.records import DnsSite, FleetZones
from bootsvc.logs import event
from bootsvc.net.dns import ZoneSet
from bootsvc.net.dns.throttle import ThrottledLog
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry

log = logging.getLogger("bootsvc.dns")

# How many recent audit ids a late commit may hide behind and still be seen.
STAMP_WINDOW = 1000

# The newest audit id past the floor, and how many entries lie past it.
AuditMark = tuple[int, int]


def change_stamp(db: Connection | Session, floor: int) -> AuditMark:
    top, count = db.execute(
        select(func.max(AuditEntry.id), func.count()).where(AuditEntry.id > floor)
    ).one()
    return (top or floor, count)


class CmdbZones:
    """A `ZoneSource` over the CMDB."""

    def __init__(
        self,
        db: Database,
        site: DnsSite,
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.site = site
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._throttled = ThrottledLog(log)
        self._skipped: set[str] = set()
        self._floor = 0
        self._stamp: AuditMark = (0, 0)
        self._fleet = self._load(serial=None)
        self._checked = clock()

    @property
    def serial(self) -> int:
        return self._fleet.serial

    def current(self) -> ZoneSet:
        if self.clock() - self._checked >= self.refresh_seconds:
            self._refresh()
        return self._fleet.zones

    def latest(self) -> ZoneSet:
        self._refresh()
        return self._fleet.zones

    def _refresh(self) -> None:
        self._checked = self.clock()
        try:
            # A bare connection costs a third of a session, and this runs
            # before every negative answer.
            with self.db.engine.connect() as connection:
                stamp = change_stamp(connection, self._floor)
            if stamp != self._stamp:
                self._fleet = self._load(serial=self._fleet.serial)
        except SQLAlchemyError as exc:
            # Keep answering from what we have; the database may come back.
            self._throttled.event("dns.cmdb_unavailable", error=type(exc).__name__)
        except Exception as exc:
            # A record the builder cannot handle must not stop the answers.
            self._throttled.event(
                "dns.zones_failed", level=logging.ERROR, error=f"{type(exc).__name__}: {exc}"
            )

    def _load(self, serial: int | None) -> FleetZones:
        """Read the stamp first, then the records, in one transaction: the
        records are at least as new as the stamp, so no change is missed."""
        started = time.perf_counter()
        with self.db.read() as session:
            top = session.scalar(select(func.max(AuditEntry.id))) or 0
            self._floor = max(0, top - STAMP_WINDOW)
            self._stamp = change_stamp(session, self._floor)
            # The serial must grow with every change, even one the max id hides.
            new_serial = top if serial is None else max(top, serial + 1)
            fleet = dnsrecords.build(session, self.site, new_serial)
        event(
            log,
            "dns.zones_loaded",
            zones=len(fleet.zones.zones),
            records=fleet.zones.record_count,
            serial=fleet.serial,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        for note in sorted(set(fleet.skipped) - self._skipped):
            event(log, "dns.record_skipped", level=logging.WARNING, reason=note)
        self._skipped = set(fleet.skipped)
        return fleet
