"""Rows as JSON text built by the database. A reader of thousands of rows
then parses them all with one json.loads call and can hash the text as it
came, instead of building a Row and decoding its JSON columns one by one
(which costs several times more than the query at 1,000 nodes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Connection, Select, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class json_row(FunctionElement[str]):
    """The columns as one JSON array, as text. JSON columns are embedded as
    JSON on both databases; other values as JSON strings, numbers or null."""

    type = Text()
    inherit_cache = True


@compiles(json_row, "sqlite")
def _sqlite(element: json_row, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps JSON as text: json() makes json_array embed it as JSON
    # rather than as a string.
    parts = [
        f"json({compiler.process(column, **kw)})"
        if isinstance(column.type, JSON)
        else compiler.process(column, **kw)
        for column in element.clauses
    ]
    return f"json_array({', '.join(parts)})"


@compiles(json_row, "postgresql")
def _postgresql(element: json_row, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_build_array({compiler.process(element.clauses, **kw)})::text"


def document(connection: Connection, statement: Select[Any]) -> str:
    """The rows of a statement that selects one json_row, as one JSON array
    text, in the statement's order."""
    rows: Sequence[str] = connection.execute(statement).scalars().all()
    return "[" + ",".join(rows) + "]"
