"""PostgreSQL restarted under two running servers costs retries, not
crashes: both answer again by themselves, without a restart of their own,
and one of them holds the rollout clock again."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import requests

from bootsvc.store import schema
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory, pgcluster
from tests.support.live import LiveServer, live_server

pytestmark = pytest.mark.netns

FAST = {"BOOTSVC_ROLLOUT_TICK_S": "0.5"}
MAC = "52:54:00:d8:00:01"
RECOVERY_SECONDS = 30.0
LEADER = re.compile(r"event=rollout\.leader(?:\s|$)", re.MULTILINE)


def _leaderships(*servers: LiveServer) -> int:
    """How many times any of them has taken the rollout clock."""
    return sum(len(LEADER.findall(server.log_text())) for server in servers)


def _answers(server: LiveServer) -> bool:
    """A node's script and readiness, as a node and a load balancer ask."""
    try:
        script = requests.get(f"{server.url}/boot/node.ipxe", params={"mac": MAC}, timeout=5)
        ready = requests.get(f"{server.url}/readyz", timeout=5)
    except requests.RequestException:
        return False
    return script.status_code == 200 and "kernel " in script.text and ready.status_code == 200


def test_servers_answer_again_after_postgresql_restarts(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for pg_createcluster")
    with pgcluster.own_cluster(f"restart{os.getpid()}") as cluster:
        db = Database(cluster.url)
        schema.upgrade(db)
        first, second = tmp_path / "a", tmp_path / "b"
        factory.version(db, ArtifactStore(first), "hv", "1")
        factory.promote(db, ArtifactStore(first), "hv", "1")
        factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], image="hv@stable")
        db.dispose()
        second.mkdir()
        with (
            live_server(first, cluster.url, env=FAST) as a,
            live_server(second, cluster.url, env=FAST) as b,
        ):
            assert _answers(a) and _answers(b)
            leaderships = _leaderships(a, b)
            cluster.restart()
            restarted = time.monotonic()
            while not (_answers(a) and _answers(b)):
                assert time.monotonic() - restarted < RECOVERY_SECONDS, "no answer after restart"
                time.sleep(0.2)
            recovered = time.monotonic() - restarted
            print(f"both servers answer {recovered:.1f} s after the restart")
            assert a.process.poll() is None and b.process.poll() is None
            while _leaderships(a, b) <= leaderships:
                assert time.monotonic() - restarted < RECOVERY_SECONDS, "no leader again"
                time.sleep(0.2)
            print(f"a leader again {time.monotonic() - restarted:.1f} s after the restart")
            for server in (a, b):
                assert "Traceback" not in server.log_text()
