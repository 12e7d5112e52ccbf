"""What the DHCPv4 and DHCPv6 lease tables have in common: the states a lease
goes through, how it shows its end, and the statements that read changed
rows and delete ended ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, delete, select
from sqlalchemy.orm import Session

OFFERED = "offered"
BOUND = "bound"
RELEASED = "released"
DECLINED = "declined"


def expires_at(expires: float) -> str:
    """A lease's end as `bootsvc dhcp leases --json` shows it."""
    return datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")


def lease_rows(
    session: Session,
    table: Table,
    columns: Sequence[ColumnElement[Any]],
    addresses: Iterable[str] | None = None,
    since: float | None = None,
    not_by: str | None = None,
) -> Sequence[Row[Any]]:
    """Rows of `table`, or those of `addresses` (its first column), or those
    changed since `since` by servers other than `not_by`."""
    query = select(*columns)
    if not_by is not None:
        query = query.where(table.c.server != not_by)
    if addresses is not None:
        query = query.where(columns[0].in_(list(addresses)))
    if since is not None:
        query = query.where(table.c.updated >= since)
    return session.execute(query).all()


def delete_ended(session: Session, table: Table, before: float) -> int:
    """Delete leases that ended before `before`; their addresses are free
    anyway (a claim takes an expired row), this only keeps the table small."""
    result = session.execute(delete(table).where(table.c.expires < before))
    return int(getattr(result, "rowcount", 0) or 0)
