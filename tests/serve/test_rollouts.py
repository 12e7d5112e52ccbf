"""The rollout clock runs as a service of `bootsvc serve`: a canary that
hangs is noticed by the clock alone, with no report to move things."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from bootsvc.core.cmdb import cmdb
from bootsvc.core.rollout import rollouts
from bootsvc.serve import rollouts as rollout_clock
from bootsvc.serve.supervisor import services_for
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Node, Rollout
from tests.support import factory
from tests.support.live import live_server
from tests.support.rolloutkit import make_cluster


def test_the_clock_is_always_a_service(tmp_path: Path) -> None:
    assert "rollouts" in services_for(Settings(data_dir=tmp_path))


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("rollout_canary", -1, "must be 0 or more"),
        ("rollout_max_unavailable", 0, "must be 1 or more"),
        ("rollout_boot_attempts", 0, "must be 1 or more"),
        ("rollout_tick_s", 0, "must be more than 0"),
        ("fleet_silent_after_s", 0, "must be 1 or more"),
    ],
)
def test_rollout_settings_are_checked(tmp_path: Path, field: str, value: float, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Settings.model_validate({"data_dir": tmp_path, field: value})


def test_a_hung_canary_halts_the_rollout_by_the_clock(
    db: Database, store: ArtifactStore, settings: Settings, data_dir: Path
) -> None:
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    factory.promote(db, store, "hv", "1")
    hosts = make_cluster(db, "c1", size=3)
    quick = settings.model_copy(update={"rollout_health_timeout_s": 1})
    with db.write() as session:
        rollout_id = rollouts.start(session, store, quick, "hv", "2", "c1", "test").id
    env = {"BOOTSVC_ROLLOUT_TICK_S": "0.2"}
    # c1n0 boots at 127.0.0.1, the address bootsvc leased to it.
    factory.lease(db, "127.0.0.1", hosts["c1n0"])
    with live_server(data_dir, db.url, env=env) as server:
        script = requests.get(
            f"{server.url}/boot/node.ipxe", params={"mac": hosts["c1n0"]}, timeout=30
        )
        assert "boots hv 2" in script.text
        deadline = time.monotonic() + 30
        state = "running"
        while state == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            with db.read() as session:
                found = session.get(Rollout, rollout_id)
                assert found is not None
                state, reason = found.state, found.reason
        log = server.log_text()
    assert state == "halted"
    assert reason == "c1n0: no healthy report within 1 s of its boot"
    assert "event=rollout.halt" in log and "service=rollouts" in log


def test_the_clock_removes_new_nodes_that_never_came_back(db: Database, settings: Settings) -> None:
    with db.write() as session:
        for n, days in ((1, 2), (2, 0)):
            node = cmdb.enlist(session, f"52:54:00:00:63:0{n}", {})
            node.created_at = node.updated_at = node.created_at - timedelta(days=days)
    stop = threading.Event()
    clock = threading.Thread(
        target=rollout_clock.run,
        args=(settings.model_copy(update={"rollout_tick_s": 0.05}), stop),
    )
    clock.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with db.read() as session:
                left = set(session.scalars(select(Node.hostname)))
            if len(left) < 2:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        clock.join(10)
    assert left == {"node-525400006302"}
