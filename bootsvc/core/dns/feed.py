"""The DNS server's view of the CMDB, rebuilt only when the CMDB changes.

`current()` checks at most once per refresh interval; `latest()` always
checks, and the server calls it before every negative answer, so a node
added through the API resolves on the very next query.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bootsvc.core.dns import records as dnsrecords
from bootsvc.core.dns.records import DnsSite, FleetZones
from bootsvc.core.nodeconfig.changes import CmdbRevision, cmdb_revision
from bootsvc.logs import event
from bootsvc.net.dns import ZoneSet
from bootsvc.net.dns.throttle import ThrottledLog
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry

log = logging.getLogger("bootsvc.dns")


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
        self._revision: CmdbRevision | None = None
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
                revision = cmdb_revision(connection)
            if revision != self._revision:
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
            self._revision = cmdb_revision(session.connection())
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
