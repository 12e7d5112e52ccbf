"""Has the CMDB changed since we last looked? Every CMDB change writes an
audit entry in its own transaction, so the audit log answers that with one
indexed query. As bootsvc.core.dnsfeed explains, the highest id alone can
miss a late commit on PostgreSQL, so the stamp also counts the ids of the
window below the newest; and it carries the newest entry's time, so that a
log that was emptied and refilled to the same ids (a restored or recreated
database) is not taken for the one already seen.

The stamp is a function of the log alone, the same in every process that
reads it, so it can also label what one process stored for the others
(bootsvc.core.nodeconfig.clusterdocs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from bootsvc.core.dns.feed import STAMP_WINDOW
from bootsvc.store.models import AuditEntry

Stamp = tuple[Any, ...]

_NEWEST = select(func.coalesce(func.max(AuditEntry.id), 0)).scalar_subquery()
# Counting only the window below the newest entry: counting a long-lived
# log from its start took 6-15 ms per 100,000 entries.
_STAMP = select(
    func.max(AuditEntry.id),
    func.count(),
    select(AuditEntry.at).where(AuditEntry.id == _NEWEST).scalar_subquery(),
).where(AuditEntry.id > _NEWEST - STAMP_WINDOW)


def stamp(connection: Connection) -> Stamp:
    """Changes whenever the CMDB does."""
    return tuple(connection.execute(_STAMP).one())


def label(found: Stamp) -> str:
    """The stamp as text."""
    top, count, at = found
    return f"{top or 0}.{count}.{at.isoformat() if at is not None else ''}"
