"""Has the CMDB changed since we last looked? Every CMDB change writes an
audit entry in its own transaction, so the audit log answers that with one
indexed query. As bootsvc.core.dnsfeed explains, the highest id alone can
miss a late commit on PostgreSQL, so the stamp also counts the ids of a
recent window; and it carries the newest entry's time, so that a log that
was emptied and refilled to the same ids (a restored or recreated database)
is not taken for the one already seen."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from bootsvc.core.dnsfeed import STAMP_WINDOW
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry


class ChangeWatch:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._floor = 0

    def _read(self, connection: Connection) -> tuple[Any, ...]:
        newest = select(func.max(AuditEntry.id)).scalar_subquery()
        at = select(AuditEntry.at).where(AuditEntry.id == newest).scalar_subquery()
        found: tuple[Any, ...] = tuple(
            connection.execute(
                select(func.max(AuditEntry.id), func.count(), at).where(AuditEntry.id > self._floor)
            ).one()
        )
        return found

    def stamp(self, connection: Connection) -> tuple[Any, ...]:
        """Changes whenever the CMDB does. The window the stamp counts over
        moves up as the log grows; a move changes the stamp once, which
        costs one reload and misses nothing."""
        stamp = self._read(connection)
        top = stamp[0] or 0
        if top - self._floor > 2 * STAMP_WINDOW or top < self._floor:
            self._floor = max(0, top - STAMP_WINDOW)
            stamp = self._read(connection)
        return stamp
