"""The reboot semaphore: one per cluster and group, slots from the rollout
or the cluster, and never so many nodes out that corosync loses quorum."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from bootsvc.core.boot import boots
from bootsvc.core.cmdb import cmdb
from bootsvc.core.rollout import fleetlock, rollouts
from bootsvc.core.rollout.fleetlock import RebootLocks
from bootsvc.net.fleetlock import LockRequest
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry, Node, RebootSlot
from bootsvc.store.types import utcnow
from tests.support import factory
from tests.support.rolloutkit import boot, make_cluster


@pytest.fixture
def locks(db: Database, store: ArtifactStore, settings: Settings) -> RebootLocks:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    for number, (name, size) in enumerate((("c5", 5), ("c3", 3)), start=1):
        for mac in make_cluster(db, name, size=size, number=number).values():
            boot(db, mac)
    return RebootLocks(db, settings)


def _take(locks: RebootLocks, host: str, group: str = "default") -> tuple[int, str]:
    answer = locks.lock(LockRequest(host, group))
    return answer.status, answer.kind


def _slots(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(RebootSlot)) or 0


def test_one_slot_taken_again_released_and_passed_on(locks: RebootLocks, db: Database) -> None:
    assert _take(locks, "c5n0") == (200, "lock_granted")
    assert _take(locks, "c5n0") == (200, "lock_held")
    assert _take(locks, "c5n1") == (409, "failed_lock_semaphore_full")
    assert _take(locks, "c3n0") == (200, "lock_granted")
    assert locks.unlock(LockRequest("c5n1", "default")).kind == "unlock_not_held"
    assert locks.unlock(LockRequest("c5n0", "default")).kind == "unlock_done"
    assert _take(locks, "c5n1") == (200, "lock_granted")
    with db.read() as session:
        audited = list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.subject == "fleetlock/c5/default")
                .order_by(AuditEntry.id)
            )
        )
    assert audited == ["fleetlock.lock", "fleetlock.unlock", "fleetlock.lock"]


def test_unknown_nodes_and_wrong_groups_are_refused_and_change_nothing(
    locks: RebootLocks, db: Database
) -> None:
    assert _take(locks, "nobody") == (403, "failed_unknown_client")
    assert _take(locks, "c5n0", "workers") == (403, "failed_wrong_group")
    assert locks.unlock(LockRequest("c5n0", "workers")).kind == "failed_wrong_group"
    assert _slots(db) == 0
    factory.node(
        db,
        hostname="c5n0",
        interfaces=[{"mac": "52:54:00:01:00:00"}],
        facts={"reboot_group": "workers"},
    )
    assert _take(locks, "c5n0") == (403, "failed_wrong_group")
    assert _take(locks, "c5n0", "workers") == (200, "lock_granted")


def test_slots_never_break_quorum(locks: RebootLocks, db: Database, settings: Settings) -> None:
    with db.write() as session:
        cmdb.set_cluster_settings(session, "c3", {"rollout_max_unavailable": 2}, [], "test")
    assert _take(locks, "c3n0") == (200, "lock_granted")
    refused = locks.lock(LockRequest("c3n1", "default"))
    assert (refused.status, refused.kind) == (409, "failed_quorum")
    assert "at most 1 of 3 nodes out, and c3n0 already are" in refused.value
    with db.write() as session:
        cmdb.set_cluster_settings(session, "c5", {"rollout_max_unavailable": 2}, [], "test")
    boot(db, "52:54:00:01:00:04", outcome="failed")
    assert _take(locks, "c5n0") == (200, "lock_granted")
    assert _take(locks, "c5n1") == (409, "failed_quorum")
    assert _take(locks, "c5n4") == (200, "lock_granted")


def test_a_rollout_sets_the_slots(
    locks: RebootLocks, db: Database, store: ArtifactStore, settings: Settings
) -> None:
    factory.version(db, store, "hv", "2")
    with db.write() as session:
        rollouts.start(session, store, settings, "hv", "2", "c5", "test", max_unavailable=2)
    assert _take(locks, "c5n0") == (200, "lock_granted")
    assert _take(locks, "c5n1") == (200, "lock_granted")
    assert _take(locks, "c5n2") == (409, "failed_lock_semaphore_full")
    with db.write() as session:
        assert fleetlock.release(session, "c5n0", "test")
        assert not fleetlock.release(session, "c5n0", "test")
    assert _take(locks, "c5n2") == (200, "lock_granted")


def test_nodes_racing_for_slots_get_exactly_as_many_as_there_are(
    locks: RebootLocks, db: Database
) -> None:
    with db.write() as session:
        cmdb.set_cluster_settings(session, "c5", {"rollout_max_unavailable": 2}, [], "test")
    hosts = [f"c5n{i}" for i in range(5)] * 2
    start = threading.Barrier(len(hosts))

    def race(host: str) -> tuple[str, int]:
        start.wait()
        return host, _take(locks, host)[0]

    with ThreadPoolExecutor(len(hosts)) as pool:
        results = list(pool.map(race, hosts))
    granted = {host for host, status in results if status == 200}
    assert {status for _host, status in results} == {200, 409}
    with db.read() as session:
        holders = set(
            session.scalars(select(Node.hostname).join(RebootSlot, RebootSlot.node_id == Node.id))
        )
    assert holders == granted and len(holders) == 2


def test_nodes_bootsvc_never_saw_boot_count_as_up_while_heard_from(
    db: Database, store: ArtifactStore, settings: Settings
) -> None:
    make_cluster(db, "c4", size=4, number=4, image=None)
    locks = RebootLocks(db, settings)
    assert _take(locks, "c4n0") == (409, "failed_quorum")
    with db.write() as session:
        for node in session.scalars(select(Node).where(Node.hostname.startswith("c4"))):
            boots.seen(session, node.id, "agent", utcnow())
    assert _take(locks, "c4n0") == (200, "lock_granted")
    assert _take(locks, "c4n1") == (409, "failed_lock_semaphore_full")
