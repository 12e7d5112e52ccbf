"""Alembic, driven from code: `bootsvc db upgrade`, and the check that keeps
`bootsvc serve` from running on an outdated schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bootsvc.errors import SchemaOutdated
from bootsvc.store.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = db.engine
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")

    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(db: Database) -> tuple[str | None, str]:
    before = current_revision(db)
    command.upgrade(_config(db), "head")
    return before, head_revision()


def require_current(db: Database) -> None:
    current, head = current_revision(db), head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise SchemaOutdated(
            f"database schema is {state}, this bootsvc needs {head}: run `bootsvc db upgrade`"
        )
