"""The one Session factory.

Writes are serialised where the database needs it: SQLite takes its write lock
at BEGIN (BEGIN IMMEDIATE), so two writers never both decide on stale reads;
PostgreSQL writers lock the rows they decide on (SELECT ... FOR UPDATE).

The statements every boot runs are built once and run on the transaction's
connection, `session.connection()`, not through `Session.execute`: the ORM's
execute path cost more than the statements. They flush no pending ORM change.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bootsvc.errors import Conflict, SettingsError

_BEGIN_OPTION = "bootsvc_sqlite_begin"

T = TypeVar("T")


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _named_connection() -> dict[str, str]:
    """pg_stat_activity names the bootsvc process holding each connection
    (bootsvc-http, bootsvc-dhcp...), so an operator sees whose they are."""
    return {"application_name": f"bootsvc {multiprocessing.current_process().name}"[:63]}


def make_engine(url: str, pool_size: int = 10) -> Engine:
    try:
        backend = make_url(url).get_backend_name()
    except Exception as exc:
        raise SettingsError(f"database URL {url!r} is not valid: {exc}") from None
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        try:
            return create_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                connect_args=_named_connection(),
            )
        except ModuleNotFoundError as exc:
            raise SettingsError(f"database URL {url!r}: driver missing ({exc.name})") from None
    raise SettingsError(f"database URL {url!r}: only sqlite and postgresql are supported")


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL gives each READ COMMITTED statement its own snapshot, so a
        # reader that locks nothing skips BEGIN and COMMIT, and its connection
        # is not pinged when taken: the ping cost as much as the cached query.
        self._statement_engine = (
            self.engine
            if self.is_sqlite
            else create_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                isolation_level="AUTOCOMMIT",
                connect_args=_named_connection(),
            )
        )
        writer_bind = (
            self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            if self.is_sqlite
            else self.engine
        )
        self._writer = sessionmaker(writer_bind, expire_on_commit=False)
        # SQLite admits one writer: this process's threads queue here, not in
        # SQLite's busy handler (which sleeps up to 100 ms between tries), so a
        # writer in another process (DHCP's lease commits) waits behind one.
        self._write_gate: AbstractContextManager[object] = (
            threading.RLock() if self.is_sqlite else nullcontext()
        )

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    def connect_for_statements(self) -> Connection:
        """A connection for reads whose statements need no snapshot in
        common, and lock nothing (no FOR UPDATE): its `begin()` sends no
        BEGIN on PostgreSQL. Not pinged: see `read_statements`."""
        return self._statement_engine.connect()

    def _read_statements(self, read: Callable[[Connection], T]) -> T:
        with self.connect_for_statements() as connection, connection.begin():
            return read(connection)

    def read_statements(self, read: Callable[[Connection], T]) -> T:
        """`read` on a connection for statements; once more if that one had
        been cut off (a restarted server), on one the pool made anew."""
        try:
            return self._read_statements(read)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        return self._read_statements(read)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back on error.
        A unique or foreign key violation (two writers racing past the domain's
        own checks) is a Conflict for the user, not a crash."""
        try:
            with self._write_gate, self._writer() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise Conflict(f"conflicts with existing data: {exc.orig}") from None

    def dispose(self) -> None:
        self.engine.dispose()
        self._statement_engine.dispose()
