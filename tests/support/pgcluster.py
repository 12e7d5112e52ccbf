"""A PostgreSQL cluster of a test's own (Debian's pg_createcluster), which
the test may stop and restart without touching the one other tests share."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.live import free_port


def _major() -> str:
    """The installed server version, as Debian names its directory."""
    return sorted(p.name for p in Path("/usr/lib/postgresql").iterdir())[-1]


def _psql(port: int, sql: str) -> None:
    subprocess.run(
        ["su", "postgres", "-c", f'psql -q -p {port} -c "{sql}"'],
        check=True,
        capture_output=True,
    )


@dataclass(frozen=True)
class OwnCluster:
    version: str
    name: str
    url: str

    def restart(self) -> None:
        subprocess.run(
            ["pg_ctlcluster", self.version, self.name, "restart"], check=True, capture_output=True
        )


@contextmanager
def own_cluster(name: str) -> Iterator[OwnCluster]:
    """A new cluster on a free port with role and database bootsvc; dropped
    afterwards, data and all."""
    version, port = _major(), free_port()
    subprocess.run(
        ["pg_createcluster", "--port", str(port), "--start", version, name],
        check=True,
        capture_output=True,
    )
    try:
        _psql(port, "CREATE ROLE bootsvc LOGIN PASSWORD 'bootsvc'")
        _psql(port, "CREATE DATABASE bootsvc OWNER bootsvc")
        url = f"postgresql+psycopg://bootsvc:bootsvc@127.0.0.1:{port}/bootsvc"
        yield OwnCluster(version, name, url)
    finally:
        subprocess.run(
            ["pg_dropcluster", "--stop", version, name], check=False, capture_output=True
        )
