"""Which of the servers sharing a database runs the rollout clock.

On PostgreSQL the leader holds a session-level advisory lock on a connection
of its own. PostgreSQL drops the lock the moment that connection ends: a
leader that exits or is killed frees it at once, and the next tick of another
server takes it. A leader whose host vanishes is noticed by TCP keepalives
(`DEAD_PEER_SECONDS`). SQLite serves one host, so its one server always leads.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from bootsvc.logs import event
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.rollout")

# One 64-bit key for bootsvc's rollout clock ("bootsvc1" in ASCII).
CLOCK_LOCK = 0x626F6F7473766331
# Keepalives on the lock's connection, both ways: idle, then probes. Either
# side finds the other gone within about idle + interval * count seconds.
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
DEAD_PEER_SECONDS = KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_COUNT


class Leadership:
    """Asked before each tick: does this server lead now?"""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._engine: Engine | None = None
        self._connection: Connection | None = None
        self.leading = False

    def check(self) -> bool:
        """Take the lock if it is free; notice that it was lost (a database
        restart ends the connection that held it)."""
        if self.db.is_sqlite:
            return True
        try:
            leads = self._holds() if self.leading else self._take()
        except Exception as exc:
            self._drop()
            event(log, "rollout.leader-check-failed", level=logging.WARNING, error=repr(exc))
            leads = False
        if leads != self.leading:
            event(log, "rollout.leader" if leads else "rollout.follower")
        self.leading = leads
        return leads

    def _connect(self) -> Connection:
        if self._engine is None:
            self._engine = create_engine(
                self.db.url,
                poolclass=NullPool,
                isolation_level="AUTOCOMMIT",
                connect_args={
                    "keepalives": 1,
                    "keepalives_idle": KEEPALIVE_IDLE_S,
                    "keepalives_interval": KEEPALIVE_INTERVAL_S,
                    "keepalives_count": KEEPALIVE_COUNT,
                    "connect_timeout": KEEPALIVE_IDLE_S,
                },
            )
        if self._connection is None:
            connection = self._engine.connect()
            connection.exec_driver_sql(f"SET tcp_keepalives_idle = {KEEPALIVE_IDLE_S}")
            connection.exec_driver_sql(f"SET tcp_keepalives_interval = {KEEPALIVE_INTERVAL_S}")
            connection.exec_driver_sql(f"SET tcp_keepalives_count = {KEEPALIVE_COUNT}")
            self._connection = connection
        return self._connection

    def _take(self) -> bool:
        taken = self._connect().scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": CLOCK_LOCK}
        )
        return bool(taken)

    def _holds(self) -> bool:
        """The lock is still ours while its connection answers."""
        self._connect().exec_driver_sql("SELECT 1")
        return True

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception as exc:
                event(log, "rollout.leader-close-failed", level=logging.DEBUG, error=repr(exc))
            self._connection = None

    def release(self) -> None:
        """Hand the lock over now rather than when the server notices the
        connection closed."""
        if self._connection is not None and self.leading:
            try:
                self._connection.exec_driver_sql("SELECT pg_advisory_unlock_all()")
            except Exception as exc:
                event(log, "rollout.leader-release-failed", level=logging.DEBUG, error=repr(exc))
        self._drop()
        self.leading = False
        if self._engine is not None:
            self._engine.dispose()
