"""The CMDB change stamp: one read over the recent window of a long audit
log, the same while nothing changes and in every process, and moved by a
change, including one that commits after a newer entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, insert

from bootsvc.core.dns.feed import STAMP_WINDOW
from bootsvc.core.nodeconfig import changes
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry
from bootsvc.store.types import utcnow
from tests.support import factory

ENTRY = {"at": utcnow(), "actor": "t", "action": "a", "subject": "s", "details": {}}


def _stamp(db: Database) -> changes.Stamp:
    with db.read() as session:
        return changes.stamp(session.connection())


def test_a_long_log_is_read_once_over_its_window(db: Database) -> None:
    assert _stamp(db) == _stamp(db)
    with db.write() as session:
        session.execute(insert(AuditEntry), [ENTRY] * (3 * STAMP_WINDOW))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        first = _stamp(db)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "audit_entry" in s]) == 1
    assert first[1] == STAMP_WINDOW
    assert _stamp(db) == first
    factory.node(db, hostname="n1", interfaces=[{"mac": "52:54:00:00:00:01"}])
    changed = _stamp(db)
    assert changed != first
    assert _stamp(db) == changed
    assert changes.label(changed) != changes.label(first)


def test_a_late_commit_below_the_newest_moves_the_stamp(db: Database) -> None:
    """Stands in for a transaction that took its id first and committed
    last: the entry below the newest id appears after the newest did."""
    with db.write() as session:
        session.execute(insert(AuditEntry), [ENTRY] * 5)
    with db.write() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == 3))
    before = _stamp(db)
    with db.write() as session:
        session.execute(insert(AuditEntry), [{**ENTRY, "id": 3}])
    after = _stamp(db)
    assert after[0] == before[0] and after != before
