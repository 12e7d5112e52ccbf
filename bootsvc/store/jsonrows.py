"""Rows as JSON text built by the database, a list per column. A reader of
thousands of rows then parses them with one json.loads call and can hash
the text as it came, instead of building a Row and decoding its JSON
columns one by one (which costs several times more than the query at 1,000
nodes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Connection, Select, Text, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import ScalarSelect


class json_columns(FunctionElement[str]):
    """An aggregate: the rows as one JSON array per column, inside one JSON
    array, as text (`[[ids...], [names...]]`; `[[], []]` for no rows). On
    PostgreSQL, json_agg works out how to write a column's type once per
    query where json_build_array does it for every value (3,000 interface
    rows: 1.4 ms of execution against 2.2 for an array per row); the reader
    parses a few long lists instead of a list per row."""

    type = Text()
    inherit_cache = True


@compiles(json_columns, "sqlite")
def _sqlite_columns(element: json_columns, compiler: SQLCompiler, **kw: Any) -> str:
    parts = []
    for column in element.clauses:
        value = compiler.process(column, **kw)
        if isinstance(column.type, JSON):
            # SQLite keeps JSON as the text SQLAlchemy wrote: joined as it
            # is, rather than json_group_array(json(...)), which parses every
            # value again (30 % of the time for the node rows).
            parts.append(
                f"coalesce('[' || group_concat(coalesce({value}, 'null'), ',') || ']', '[]')"
            )
        else:
            parts.append(f"json_group_array({value})")
    return "'[' || " + " || ',' || ".join(parts) + " || ']'"


@compiles(json_columns, "postgresql")
def _postgresql_columns(element: json_columns, compiler: SQLCompiler, **kw: Any) -> str:
    parts = [
        f"coalesce(json_agg({compiler.process(column, **kw)}), '[]')" for column in element.clauses
    ]
    return f"json_build_array({', '.join(parts)})::text"


def column_texts(*statements: Select[*tuple[Any, ...]]) -> list[ScalarSelect[str]]:
    """Each statement's rows as json_columns text, a scalar subquery each,
    for a statement that selects them with other columns.

    Each statement's ORDER BY is kept as the order of its lists in practice
    (the aggregate reads an ordered subquery, which both databases follow
    though neither promises to), so the text of the same rows is the same
    from one read to the next; a reader that needs an order must sort."""
    ordered = [statement.subquery() for statement in statements]
    return [select(json_columns(*sub.c)).scalar_subquery() for sub in ordered]


def columns(*statements: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """One statement that selects each statement's rows as json_columns
    text, for one round trip. Build it once and run it with parameters
    (`texts`): building and caching a statement of subqueries costs more
    client time than running it."""
    return select(*column_texts(*statements))


def texts(
    connection: Connection, statement: Select[*tuple[Any, ...]], **params: Any
) -> tuple[str, ...]:
    """The JSON texts of a statement made by `columns`."""
    return tuple(connection.execute(statement, params).one())
