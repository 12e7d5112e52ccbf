"""Rollouts driven by the boots of simulated nodes: waves, fallback after
failed boots or a timeout, pause, resume, abort, and the bad input that is
refused with nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bootsvc.core.boot import bootplan, reports
from bootsvc.core.boot.bootplan import NoBoot, SessionFacts, Target
from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb import assignments
from bootsvc.core.rollout import rollouts
from bootsvc.errors import Conflict, InvalidInput, NotFound
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry, Node, Rollout
from bootsvc.store.types import utcnow
from tests.support import factory
from tests.support.rolloutkit import boot, deliver, make_cluster


@pytest.fixture
def hosts(db: Database, store: ArtifactStore) -> dict[str, str]:
    """Five nodes following hv@stable at version 1, each booted once."""
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    factory.promote(db, store, "hv", "1")
    found = make_cluster(db, "c1", size=5)
    for mac in found.values():
        assert boot(db, mac).version == "1"
    return found


def _start(db: Database, store: ArtifactStore, settings: Settings, **policy: int) -> int:
    with db.write() as session:
        return rollouts.start(session, store, settings, "hv", "2", "c1", "test", **policy).id


def _wants(db: Database) -> dict[str, str]:
    with db.read() as session:
        nodes = session.scalars(select(Node).order_by(Node.hostname))
        found = {}
        for node in nodes:
            target = bootplan.decide(node, SessionFacts(session), "")
            assert isinstance(target, Target)
            found[node.hostname] = f"{target.version.version}:{target.source}"
        return found


def _state(db: Database, rollout_id: int) -> tuple[str, int]:
    with db.read() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None
        return rollout.state, rollout.wave


def test_waves_follow_healthy_reports_to_the_end(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    rollout_id = _start(db, store, settings, canary=1, max_unavailable=2)
    assert _wants(db) == {
        "c1n0": "2:rollout",
        "c1n1": "1:held",
        "c1n2": "1:held",
        "c1n3": "1:held",
        "c1n4": "1:held",
    }
    assert boot(db, hosts["c1n0"]).version == "2"
    assert _state(db, rollout_id) == ("running", 2)
    assert [w.split(":")[0] for w in _wants(db).values()] == ["2", "2", "2", "1", "1"]
    boot(db, hosts["c1n1"])
    assert _state(db, rollout_id) == ("running", 2)
    boot(db, hosts["c1n2"])
    assert _state(db, rollout_id) == ("running", 3)
    for host in ("c1n3", "c1n4"):
        boot(db, hosts[host])
    assert _state(db, rollout_id) == ("done", 3)
    assert set(_wants(db).values()) == {"2:rollout"}
    with db.read() as session:
        steps = list(
            session.execute(
                select(AuditEntry.action, AuditEntry.to_value)
                .where(AuditEntry.subject == f"rollout/{rollout_id}")
                .order_by(AuditEntry.id)
            ).all()
        )
    assert [tuple(step) for step in steps] == [
        ("rollout.start", "hv 2"),
        ("rollout.wave", "wave 1 of 3"),
        ("rollout.node-healthy", "c1n0"),
        ("rollout.wave", "wave 2 of 3"),
        ("rollout.node-healthy", "c1n1"),
        ("rollout.node-healthy", "c1n2"),
        ("rollout.wave", "wave 3 of 3"),
        ("rollout.node-healthy", "c1n3"),
        ("rollout.node-healthy", "c1n4"),
        ("rollout.done", "done"),
    ]


def test_a_version_that_never_comes_up_stops_after_the_canary(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    rollout_id = _start(db, store, settings, canary=1, max_unavailable=1)
    canary = hosts["c1n0"]
    assert settings.rollout_boot_attempts == 2
    assert boot(db, canary, outcome=None).version == "2"
    assert boot(db, canary, outcome=None).version == "2"
    fallback = boot(db, canary)
    assert (fallback.version, fallback.source) == ("1", "fallback")
    assert "without a healthy report" in fallback.reason
    with db.read() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None
        assert (rollout.state, rollout.wave) == ("halted", 1)
        assert "c1n0: 2 boots of the new version" in rollout.reason
        assert [m.state for m in rollout.members] == ["failed"] + ["pending"] * 4
    assert _wants(db)["c1n0"] == "1:fallback"
    assert {host: want for host, want in _wants(db).items() if host != "c1n0"} == {
        f"c1n{i}": "1:held" for i in range(1, 5)
    }
    with db.write() as session:
        rollouts.tick(session, "", utcnow() + timedelta(days=1))
    assert _state(db, rollout_id) == ("halted", 1)


def test_a_hung_boot_times_out_and_the_next_boot_falls_back(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    rollout_id = _start(db, store, settings, canary=1, max_unavailable=1)
    assert boot(db, hosts["c1n0"], outcome=None).version == "2"
    with db.write() as session:
        rollouts.tick(session, "", utcnow() + timedelta(seconds=10))
    assert _state(db, rollout_id) == ("running", 1)
    later = utcnow() + timedelta(seconds=settings.rollout_health_timeout_s + 1)
    with db.write() as session:
        rollouts.tick(session, "", later)
    assert _state(db, rollout_id) == ("halted", 1)
    assert boot(db, hosts["c1n0"]).version == "1"


def test_an_unhealthy_or_failed_report_stops_at_once(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    rollout_id = _start(db, store, settings, canary=1, max_unavailable=1)
    boot(db, hosts["c1n0"], healthy=False)
    assert _state(db, rollout_id) == ("halted", 1)
    assert _wants(db)["c1n0"] == "1:fallback"
    with db.write() as session:
        rollouts.resume(session, rollout_id, "test")
    assert _state(db, rollout_id) == ("running", 1)
    assert _wants(db)["c1n0"] == "2:rollout"
    boot(db, hosts["c1n0"], outcome="failed")
    with db.read() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None and rollout.state == "halted"
        assert rollout.reason == "c1n0: reported failed on the new version"


def test_a_version_bootsvc_refuses_to_boot_stops_at_once_and_falls_back(
    db: Database, store: ArtifactStore, settings: Settings
) -> None:
    """A version built for another architecture boots nothing on these
    nodes: the canary's refusal halts the rollout at once, and its next
    boot takes the version it had."""
    factory.version(db, store, "hv", "1", architecture="x86_64")
    factory.version(db, store, "hv", "2", architecture="arm64")
    factory.promote(db, store, "hv", "1")
    hosts = make_cluster(db, "c1", size=3)
    for mac in hosts.values():
        assert boot(db, mac, arch="x86_64").version == "1"
    rollout_id = _start(db, store, settings, canary=1, max_unavailable=1)
    assert _wants(db)["c1n0"] == "2:rollout"
    refused = deliver(db, hosts["c1n0"], arch="x86_64").plan
    assert isinstance(refused, NoBoot) and "built for arm64" in refused.reason
    with db.read() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None and rollout.state == "halted"
        assert rollout.reason == "c1n0: bootsvc refused to boot the new version"
        assert [m.state for m in rollout.members] == ["failed", "pending", "pending"]
    assert boot(db, hosts["c1n0"], arch="x86_64").version == "1"


def test_pause_resume_and_abort(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    rollout_id = _start(db, store, settings, canary=1, max_unavailable=2)
    with db.write() as session:
        rollouts.pause(session, rollout_id, "test")
        with pytest.raises(Conflict, match="is paused; it cannot be paused"):
            rollouts.pause(session, rollout_id, "test")
    boot(db, hosts["c1n0"])
    assert _state(db, rollout_id) == ("paused", 1)
    with db.write() as session:
        rollouts.resume(session, rollout_id, "test")
    assert _state(db, rollout_id) == ("running", 2)
    with db.write() as session:
        rollouts.abort(session, rollout_id, "test")
        with pytest.raises(Conflict, match="is aborted"):
            rollouts.resume(session, rollout_id, "test")
    assert set(_wants(db).values()) == {"1:reverted"}
    assert boot(db, hosts["c1n0"]).version == "1"


def test_nodes_that_leave_do_not_hold_up_their_wave(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    rollout_id = _start(db, store, settings, canary=1, max_unavailable=1)
    factory.node(db, hostname="c1n0", interfaces=[{"mac": hosts["c1n0"]}], image="hv=1")
    with db.write() as session:
        rollouts.tick(session, "")
    assert _state(db, rollout_id) == ("running", 2)
    assert _wants(db)["c1n0"] == "1:pinned"
    assert _wants(db)["c1n1"] == "2:rollout"


def test_bad_input_is_refused_and_changes_nothing(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    factory.version(db, store, "hv", "3")
    with db.read() as session:
        version = catalog.get_version(session, "hv", "3")
        kernel = next(f.sha256 for f in version.files if f.role == "kernel")
    store.remove(kernel)
    cases: list[tuple[dict[str, object], type[Exception], str]] = [
        ({"version": "9"}, NotFound, "has no version '9'"),
        ({"version": "3"}, Conflict, "artifacts missing from the store: vmlinuz"),
        ({"cluster": "c9"}, NotFound, "cluster 'c9' does not exist"),
        ({"max_unavailable": 3}, InvalidInput, "would break the quorum of cluster c1"),
        ({"max_unavailable": 0}, InvalidInput, "max-unavailable must be between 1 and 100000"),
        ({"canary": -1}, InvalidInput, "canary must be between 0 and 100000"),
        # Past any column's range: refused, not a database error.
        ({"canary": 10**23}, InvalidInput, "canary must be between 0 and 100000"),
        ({"image": "other", "version": "1"}, NotFound, "image 'other' does not exist"),
    ]
    for given, error, message in cases:
        args: dict[str, object] = {"image": "hv", "version": "2", "cluster": "c1", **given}
        with pytest.raises(error, match=message), db.write() as session:
            rollouts.start(
                session,
                store,
                settings,
                str(args["image"]),
                str(args["version"]),
                str(args["cluster"]),
                "test",
                max_unavailable=args.get("max_unavailable"),  # type: ignore[arg-type]
                canary=args.get("canary"),  # type: ignore[arg-type]
            )
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Rollout)) == 0
        assert session.scalar(select(func.count()).where(AuditEntry.action.like("rollout.%"))) == 0
    first = _start(db, store, settings, max_unavailable=2)
    with pytest.raises(Conflict, match=f"already has rollout {first} \\(running\\)"):
        _start(db, store, settings)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Rollout)) == 1


def test_only_unpinned_followers_of_the_image_take_part(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    factory.version(db, store, "other", "1")
    factory.promote(db, store, "other", "1")
    factory.node(db, hostname="c1n3", interfaces=[{"mac": hosts["c1n3"]}], image="hv=1")
    factory.node(db, hostname="c1n4", interfaces=[{"mac": hosts["c1n4"]}], image="other@stable")
    rollout_id = _start(db, store, settings, canary=0, max_unavailable=2)
    with db.read() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None
        assert sorted(m.node.hostname for m in rollout.members) == ["c1n0", "c1n1", "c1n2"]
        assert rollout.waves == 2
    wants = _wants(db)
    assert (wants["c1n3"], wants["c1n4"]) == ("1:pinned", "1:node")
    with db.write() as session:
        rollouts.abort(session, rollout_id, "test")
    factory.version(db, store, "third", "1")
    with pytest.raises(Conflict, match="nothing to roll out"), db.write() as session:
        rollouts.start(session, store, settings, "third", "1", "c1", "test")
    with db.write() as session:
        already = rollouts.start(session, store, settings, "other", "1", "c1", "test")
        assert (already.state, already.waves) == ("done", 0)
        assert [m.reason for m in already.members] == ["already on the new version"]


def test_a_later_unhealthy_report_stops_the_rollout_after_all(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    rollout_id = _start(db, store, settings, canary=1, max_unavailable=1)
    plan = boot(db, hosts["c1n0"])
    assert _state(db, rollout_id) == ("running", 2)
    with db.write() as session:
        reports.record(
            session,
            "up",
            hosts["c1n0"],
            None,
            version_id=plan.version_id,
            details={"services": {"corosync": "active", "pacemaker": "failed"}},
        )
    with db.read() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None and rollout.state == "halted"
        assert rollout.reason == "c1n0: reported unhealthy after all"
    assert _wants(db)["c1n0"] == "1:fallback"


def test_versions_and_images_in_use_are_not_deleted(
    db: Database, store: ArtifactStore, settings: Settings, hosts: dict[str, str]
) -> None:
    rollout_id = _start(db, store, settings)
    with pytest.raises(Conflict, match=f"in use by rollout {rollout_id}"), db.write() as session:
        catalog.delete_version(session, "hv", "2", "test")
    make_cluster(db, "c2", size=1, number=2, image=None)
    with db.write() as session:
        assignments.assign(session, "c2", None, "hv@stable", "test")
        for node in session.scalars(select(Node)):
            node.image, node.channel, node.pinned_version = None, None, None
    with pytest.raises(Conflict, match="assigned to cluster c2"), db.write() as session:
        catalog.delete_image(session, "hv", "test")
