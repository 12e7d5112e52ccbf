"""INSERT ... ON CONFLICT DO UPDATE, for writers that may race on one row:
SQLAlchemy spells it per dialect, and bootsvc runs on SQLite and PostgreSQL,
whose two constructs take the same arguments."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# The row the INSERT proposed (`excluded`) -> what the conflicting row gets.
Update = Mapping[str, Any] | Callable[[Any], Mapping[str, Any]]


def upsert(
    dialect: str,
    table: Any,
    keys: Sequence[Any],
    update: Update,
    values: Mapping[str, Any] | None = None,
    where: Callable[[Any], Any] | None = None,
) -> Any:
    """An upsert of `table` on the unique `keys`, for the dialect named
    `dialect`; `update` and `where` may read the proposed row."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    if values is not None:
        statement = statement.values(**values)
    proposed = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_=update(proposed) if callable(update) else update,
        where=where(proposed) if where is not None else None,
    )


def upsert_row(
    session: Session, table: Any, keys: Sequence[Any], row: Mapping[str, Any], update: Update
) -> None:
    """Insert `row`, or update the row it conflicts with, in `session`."""
    dialect = session.get_bind().dialect.name
    session.execute(upsert(dialect, table, keys, update, values=row))


class BuiltUpsert:
    """An upsert built once for each dialect, for statements every boot
    runs: building one cost more than running it."""

    def __init__(self, table: Any, keys: Sequence[Any], update: Update) -> None:
        self._by_dialect = {
            dialect: upsert(dialect, table, keys, update) for dialect in ("postgresql", "sqlite")
        }

    def run(self, session: Session, row: Mapping[str, Any]) -> None:
        connection = session.connection()
        connection.execute(self._by_dialect[connection.dialect.name], row)
