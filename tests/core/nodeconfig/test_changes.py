"""The CMDB revision: the same while nothing changes and in every process,
and moved by a change, including one that commits after a newer entry."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, insert

from bootsvc.core.nodeconfig import changes
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry
from bootsvc.store.types import utcnow
from tests.support import factory

ENTRY = {"at": utcnow(), "actor": "t", "action": "a", "subject": "s", "details": {}}


def _revision(db: Database) -> changes.CmdbRevision:
    with db.read() as session:
        return changes.cmdb_revision(session.connection())


def test_a_long_log_keeps_its_revision_until_a_change(db: Database) -> None:
    assert _revision(db) == _revision(db)
    with db.write() as session:
        session.execute(insert(AuditEntry), [ENTRY] * (3 * changes.REVISION_WINDOW))
    first = _revision(db)
    assert _revision(db) == first
    factory.node(db, hostname="n1", interfaces=[{"mac": "52:54:00:00:00:01"}])
    changed = _revision(db)
    assert changed != first
    assert _revision(db) == changed


def test_a_late_commit_below_the_newest_moves_the_revision(db: Database) -> None:
    """Stands in for a transaction that took its id first and committed
    last: the entry below the newest id appears after the newest did.
    SQLite, one writer at a time, commits its ids in order."""
    if db.is_sqlite:
        pytest.skip("SQLite commits audit entries in the order of their ids")
    with db.write() as session:
        session.execute(insert(AuditEntry), [ENTRY] * 5)
    with db.write() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.id == 3))
    before = _revision(db)
    with db.write() as session:
        session.execute(insert(AuditEntry), [{**ENTRY, "id": 3}])
    after = _revision(db)
    assert after.newest_id == before.newest_id and after != before
