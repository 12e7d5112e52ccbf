"""Two `bootsvc serve` on one PostgreSQL: a version imported on one is
fetched by sha256 and served by the other, once for many requests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import ImageVersion
from tests.support import factory
from tests.support.live import live_server

FAST = {"BOOTSVC_ROLLOUT_TICK_S": "0.5"}


def fleet(db: Database, data_dir: Path, *args: str) -> str:
    """`bootsvc fleet ARGS` run as an admin would, on the servers' database."""
    env = {**os.environ, "BOOTSVC_DATA_DIR": str(data_dir), "BOOTSVC_DATABASE_URL": db.url}
    done = subprocess.run(
        [sys.executable, "-m", "bootsvc", "fleet", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def fleet_servers(db: Database, data_dir: Path) -> dict[str, list[str]]:
    """`bootsvc fleet servers`: the versions each live server can serve."""
    rows = json.loads(fleet(db, data_dir, "servers", "--json"))
    return {row["url"]: row["versions"] for row in rows if row["live"]}


def test_a_version_imported_on_one_server_is_served_by_the_other(
    db: Database, tmp_path: Path
) -> None:
    if db.is_sqlite:
        pytest.skip("servers share a PostgreSQL database")
    first, second = tmp_path / "a", tmp_path / "b"
    second.mkdir()
    factory.version(db, ArtifactStore(first), "hv", "1", rootfs=True)
    with db.read() as session:
        files = {f.name: f.sha256 for f in session.query(ImageVersion).one().files}
    with (
        live_server(first, db.url, env=FAST) as a,
        live_server(second, db.url, env=FAST) as b,
    ):
        assert fleet_servers(db, tmp_path) == {a.url: ["hv 1"], b.url: []}
        shown = fleet(db, tmp_path, "status").splitlines()
        assert f"boot server {a.url} (live): hv 1" in shown
        assert f"boot server {b.url} (live): no version" in shown
        urls = [f"{b.url}/artifacts/{sha}/{name}" for name, sha in files.items()]
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda n: requests.get(urls[n % 3], timeout=30), range(12)))
        assert [r.status_code for r in replies] == [200] * 12
        for reply in replies:
            assert hashlib.sha256(reply.content).hexdigest() in reply.url
        # Twelve requests, three artifacts: each fetched from A once.
        assert a.log_text().count("file=blob") == 3
        deadline = time.monotonic() + 10
        while fleet_servers(db, tmp_path) != {a.url: ["hv 1"], b.url: ["hv 1"]}:
            assert time.monotonic() < deadline, "B's heartbeat never listed hv 1"
            time.sleep(0.5)
