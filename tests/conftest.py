"""Shared fixtures. Every test that touches the database takes `db`, which
runs it twice: on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from bootsvc.images import recipes
from bootsvc.settings import Settings
from bootsvc.store import schema
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Base
from tests.support import images

# DHCP test fixtures (dhcp_stack, dhcp_clock), beside this file.
pytest_plugins = ["tests.support.dhcpstack"]

PG_URL = os.environ.get(
    "BOOTSVC_TEST_PG_URL", "postgresql+psycopg://bootsvc:bootsvc@127.0.0.1/bootsvc_test"
)


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist's workers ignore SIGINT, and an ignored signal stays
    ignored in the programs a test starts: give them Ctrl-C back."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "bootsvc.db"
    database = Database(f"sqlite:///{path}")
    schema.upgrade(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Database]:
    """A database of this test session's own, so that test runs sharing one
    PostgreSQL server never see each other's rows."""
    name = f"bootsvc_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {PG_URL} is not usable ({type(exc).__name__}: {exc}); "
            "scripts/test.sh sets it up when run as root"
        )
    database = Database(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    schema.upgrade(database)
    yield database
    database.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(database: Database) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "bootsvc.db"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
    else:
        database = request.getfixturevalue("pg_database")
        _truncate(database)
        yield database


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def store(data_dir: Path) -> ArtifactStore:
    return ArtifactStore(data_dir)


@pytest.fixture
def settings(data_dir: Path, db: Database) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=db.url,
        advertise_url="http://192.0.2.1:8080",
        http_listen="127.0.0.1:8080",
    )


@pytest.fixture(scope="session")
def busybox_test_v1() -> Path:
    return images.manifest(recipes.SAMPLE_IMAGE, "1")


@pytest.fixture(scope="session")
def busybox_test_v2() -> Path:
    return images.manifest(recipes.SAMPLE_IMAGE, "2")


@pytest.fixture(scope="session")
def busybox_test_arm64() -> Path:
    return images.manifest(recipes.SAMPLE_IMAGE_ARM64, "1")
