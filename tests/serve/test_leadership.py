"""One rollout clock leads among the servers on one PostgreSQL; when the
leader is killed, another takes over on its next tick."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootsvc.core.rollout import rollouts
from bootsvc.serve.leadership import Leadership
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Rollout
from tests.support import factory
from tests.support.rolloutkit import boot, make_cluster

TICK_S = 0.2
CLOCK = (
    "from bootsvc.logs import setup_logging; from bootsvc.serve import rollouts;"
    "from bootsvc.settings import load_settings;"
    "setup_logging('info'); rollouts.run(load_settings())"
)


@dataclass
class Clock:
    process: subprocess.Popen[bytes]
    log: Path

    def leads(self) -> bool:
        return "event=rollout.leader" in self.log.read_text()


def start_clock(data_dir: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    """A rollout clock in a process of its own, as `bootsvc serve` runs it."""
    env = {
        **os.environ,
        "BOOTSVC_DATA_DIR": str(data_dir),
        "BOOTSVC_DATABASE_URL": url,
        "BOOTSVC_ROLLOUT_TICK_S": str(TICK_S),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", CLOCK], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_for(check: Callable[[], object], seconds: float) -> float:
    """Seconds until `check()` is true; fails after `seconds`."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - began


@pytest.fixture
def clocks(db: Database, tmp_path: Path) -> Iterator[list[Clock]]:
    if db.is_sqlite:
        pytest.skip("a SQLite database serves one server")
    started = []
    for name in ("a", "b"):
        data_dir = tmp_path / name
        data_dir.mkdir()
        log = tmp_path / f"clock-{name}.log"
        started.append(Clock(start_clock(data_dir, db.url, log), log))
    yield started
    for clock in started:
        if clock.process.poll() is None:
            clock.process.terminate()
            clock.process.wait(10)


def test_a_killed_leader_is_replaced_and_the_rollout_goes_on(
    db: Database, store: ArtifactStore, settings: Settings, clocks: list[Clock]
) -> None:
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    factory.promote(db, store, "hv", "1")
    hosts = make_cluster(db, "c1", size=3)

    def leaders() -> list[int]:
        return [n for n, clock in enumerate(clocks) if clock.leads()]

    wait_for(leaders, 30)
    time.sleep(5 * TICK_S)
    assert len(leaders()) == 1, "two clocks lead at once"
    leader = leaders()[0]
    survivor = clocks[1 - leader]
    clocks[leader].process.send_signal(signal.SIGKILL)
    clocks[leader].process.wait(10)

    takeover = wait_for(survivor.leads, 10)
    assert takeover < 2 * TICK_S + 1
    quick = settings.model_copy(update={"rollout_health_timeout_s": 1})
    with db.write() as session:
        rollout_id = rollouts.start(session, store, quick, "hv", "2", "c1", "test").id
    boot(db, hosts["c1n0"], outcome=None)

    def halted() -> bool:
        with db.read() as session:
            found = session.get(Rollout, rollout_id)
            return found is not None and found.state == "halted"

    wait_for(halted, 15)
    assert "event=rollout.halt" in survivor.log.read_text()


def test_the_lock_goes_to_one_holder_then_to_the_next(db: Database) -> None:
    first, second = Leadership(Database(db.url)), Leadership(Database(db.url))
    try:
        assert first.check()
        if db.is_sqlite:
            assert second.check()
            return
        assert not second.check()
        first.release()
        assert second.check()
    finally:
        for holder in (first, second):
            holder.release()
            holder.db.dispose()
