"""Has the CMDB changed since we last looked? Every CMDB change writes an
audit entry in its own transaction, so the stamp of the audit log (see
bootsvc.core.dnsfeed.change_stamp) answers that with one indexed query."""

from __future__ import annotations

from bootsvc.core.dnsfeed import STAMP_WINDOW, Stamp, change_stamp
from bootsvc.store.db import Database


class ChangeWatch:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._floor = 0

    def stamp(self) -> Stamp:
        """Changes whenever the CMDB does. The window the stamp counts over
        moves up as the log grows; a move changes the stamp once, which
        costs one reload and misses nothing."""
        with self.db.engine.connect() as connection:
            stamp = change_stamp(connection, self._floor)
            if stamp[0] - self._floor > 2 * STAMP_WINDOW:
                self._floor = stamp[0] - STAMP_WINDOW
                stamp = change_stamp(connection, self._floor)
        return stamp
