"""Sessions: a statement reader on PostgreSQL sends no BEGIN (each of its
statements sees the newest commits, as in a READ COMMITTED transaction),
and the pooled connection it used is transactional again for the next
reader; on SQLite both keep their read transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.store.db import Database


def _in_transaction(session: Session) -> bool:
    session.execute(select(1))
    raw: Any = session.connection().connection.dbapi_connection
    if hasattr(raw, "in_transaction"):
        found: bool = raw.in_transaction
        return found
    status: str = raw.info.transaction_status.name
    return status == "INTRANS"


def test_statement_reads_need_no_transaction(db: Database) -> None:
    for _ in range(2):
        with db.read_statements() as session:
            assert _in_transaction(session) == db.is_sqlite
        with db.read() as session:
            assert _in_transaction(session)
