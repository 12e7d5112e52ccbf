"""Has the CMDB changed? Every CMDB change writes an audit entry in its own
transaction, so one indexed query over the audit log answers it, the same in
every process: the overlay cache, the DNS zones and the DHCP directory ask it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from bootsvc.store.models import AuditEntry

# On PostgreSQL a transaction that took id 10 may commit after the one that
# took id 11: counting the ids of this many below the newest sees it arrive.
REVISION_WINDOW = 1000

_NEWEST = select(func.coalesce(func.max(AuditEntry.id), 0)).scalar_subquery()
_REVISION = select(
    func.max(AuditEntry.id),
    func.count(),
    select(AuditEntry.at).where(AuditEntry.id == _NEWEST).scalar_subquery(),
).where(AuditEntry.id > _NEWEST - REVISION_WINDOW)
# SQLite commits one writer at a time, so its ids arrive in order and the
# newest entry says it all: counting the window cost more than the rest.
_NEWEST_ENTRY = select(AuditEntry.id, AuditEntry.at).order_by(AuditEntry.id.desc()).limit(1)


@dataclass(frozen=True)
class CmdbRevision:
    """Equal to an earlier one only if the CMDB has not changed in between.
    The newest entry's time tells a log that was emptied and refilled to the
    same ids (a restored database) from the one seen before. `recent_entries`
    is counted on PostgreSQL only."""

    newest_id: int | None
    recent_entries: int | None
    newest_at: datetime | None


def cmdb_revision(connection: Connection) -> CmdbRevision:
    if connection.dialect.name == "sqlite":
        newest = connection.execute(_NEWEST_ENTRY).first()
        if newest is None:
            return CmdbRevision(None, None, None)
        return CmdbRevision(newest.id, None, newest.at)
    return CmdbRevision(*connection.execute(_REVISION).one())
