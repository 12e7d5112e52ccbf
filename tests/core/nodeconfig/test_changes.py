"""The CMDB change stamp: a new watch (a cold process) counts only the
recent window of a long audit log, keeps its stamp while nothing changes
(no second read right after the first), and moves on a change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert

from bootsvc.core.dnsfeed import STAMP_WINDOW
from bootsvc.core.nodeconfig.changes import ChangeWatch
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry
from bootsvc.store.types import utcnow
from tests import factory


def _stamp(db: Database, watch: ChangeWatch) -> tuple[object, ...]:
    with db.read() as session:
        return watch.stamp(session.connection())


def test_a_new_watch_on_a_long_log(db: Database) -> None:
    empty = ChangeWatch(db)
    assert _stamp(db, empty) == _stamp(db, empty)
    entry = {"at": utcnow(), "actor": "t", "action": "a", "subject": "s", "details": {}}
    with db.write() as session:
        session.execute(insert(AuditEntry), [entry] * (3 * STAMP_WINDOW))
    watch = ChangeWatch(db)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        first = _stamp(db, watch)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    # One read, over the window below the newest entry, not the whole log.
    assert len([s for s in statements if "audit_entry" in s]) == 1
    assert first[1] == STAMP_WINDOW
    assert _stamp(db, watch) == first
    factory.node(db, hostname="n1", interfaces=[{"mac": "52:54:00:00:00:01"}])
    changed = _stamp(db, watch)
    assert changed != first
    assert _stamp(db, watch) == changed
