from __future__ import annotations

from pathlib import Path

import pytest

from bootsvc.errors import SchemaOutdated
from bootsvc.store import schema
from bootsvc.store.db import Database


def test_empty_database_is_refused_with_the_fix(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutdated, match="bootsvc db upgrade"):
        schema.require_current(database)


def test_upgrade_reaches_head_and_is_idempotent(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'new.db'}")
    before, after = schema.upgrade(database)
    assert before is None and after == schema.head_revision()
    schema.require_current(database)
    assert schema.upgrade(database) == (after, after)


def test_migrated_schema_matches_the_models(db: Database) -> None:
    """Autogenerate finds nothing to do: the migrations and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bootsvc.store.models import Base

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []


def test_cluster_documents_are_dropped_and_come_back_on_downgrade(db: Database) -> None:
    from alembic import command
    from sqlalchemy import inspect

    def tables() -> set[str]:
        with db.engine.connect() as connection:
            return set(inspect(connection).get_table_names())

    head = schema.head_revision()
    assert "cluster_document" not in tables()
    command.downgrade(schema._config(db), "0009")
    assert schema.current_revision(db) == "0009" and "cluster_document" in tables()
    assert schema.upgrade(db)[1] == head
    assert schema.current_revision(db) == head and "cluster_document" not in tables()
