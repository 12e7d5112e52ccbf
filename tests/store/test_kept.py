"""Kept connections: reads reuse a few connections without the pool's ping;
a connection the server cut off costs one more try, not an error; a read
that fails otherwise is not retried, and a database error leaves no
connection behind; a forked child never uses its parent's."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, select, text

from bootsvc.store.db import Database
from bootsvc.store.kept import KeptConnections


def _raw_id(connection: Connection) -> int:
    return id(connection.connection.dbapi_connection)


def test_reads_reuse_a_kept_connection(db: Database) -> None:
    readers = KeptConnections(db, keep=1)
    first = readers.run(_raw_id)
    assert readers.run(_raw_id) == first
    # Two at once: the inner read gets a connection of its own; one of the
    # two is kept, the other goes back to the pool.
    inner: list[int] = []

    def nested(connection: Connection) -> int:
        inner.append(readers.run(_raw_id))
        return _raw_id(connection)

    assert readers.run(nested) == first and inner[0] != first
    assert readers.run(_raw_id) == inner[0]
    assert readers.run(_raw_id) == inner[0]


def test_a_failed_read_is_not_retried(db: Database) -> None:
    readers = KeptConnections(db)
    calls = []

    def failing(connection: Connection) -> None:
        calls.append(connection)
        connection.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no_such_table"):
        readers.run(failing)
    assert len(calls) == 1
    assert readers.run(lambda c: c.execute(select(1)).scalar()) == 1


def test_a_readers_own_refusal_keeps_the_connection(db: Database) -> None:
    """An unknown node is the reader's answer, not a broken connection."""
    readers = KeptConnections(db)
    kept = readers.run(_raw_id)

    def refusing(connection: Connection) -> None:
        raise LookupError(_raw_id(connection))

    with pytest.raises(LookupError) as refused:
        readers.run(refusing)
    assert refused.value.args == (kept,)
    assert readers.run(_raw_id) == kept


def test_a_connection_cut_off_is_replaced(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no server to cut a connection off")
    readers = KeptConnections(db)
    backend = readers.run(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar())
    with db.connect_for_statements() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    again = readers.run(lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar())
    assert again != backend


def test_a_forked_child_takes_none_of_its_parents(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = KeptConnections(db)
    parents = readers.run(_raw_id)
    monkeypatch.setattr("bootsvc.store.kept.os.getpid", lambda: -1)
    assert readers.run(_raw_id) != parents
    assert readers.run(_raw_id) != parents
