"""Connections for statement reads: on PostgreSQL they send no BEGIN (each
statement sees the newest commits, as in a READ COMMITTED transaction), and
the pooled connection is transactional again for the next reader; on
SQLite both keep their read transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from bootsvc.store.db import Database


def _in_transaction(connection: Connection) -> bool:
    connection.execute(select(1))
    raw: Any = connection.connection.dbapi_connection
    if hasattr(raw, "in_transaction"):
        found: bool = raw.in_transaction
        return found
    status: str = raw.info.transaction_status.name
    return status == "INTRANS"


def test_statement_reads_need_no_transaction(db: Database) -> None:
    for _ in range(2):
        with db.connect_for_statements() as connection, connection.begin():
            assert _in_transaction(connection) == db.is_sqlite
        with db.read() as session:
            assert _in_transaction(session.connection())


def test_a_statement_read_on_a_connection_cut_off_is_read_again(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no server to cut a connection off")

    def backend(connection: Connection) -> int:
        found: int = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return found

    first = db.read_statements(backend)
    with db.read() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    assert db.read_statements(backend) != first
