"""Promotion and rollback start one rollout per following cluster, in the
same transaction as the channel move."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bootsvc.core.catalog import catalog, releases
from bootsvc.errors import Conflict, InvalidInput, NotFound
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Rollout
from tests.support import factory
from tests.support.rolloutkit import boot, make_cluster


@pytest.fixture
def fleet(db: Database, store: ArtifactStore) -> dict[str, str]:
    """Two clusters on hv@stable, one on hv@beta, one loose node on hv@stable."""
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    factory.promote(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1", "beta")
    hosts = make_cluster(db, "c1", size=3, number=1)
    hosts |= make_cluster(db, "c2", size=2, number=2)
    hosts |= make_cluster(db, "c3", size=2, number=3, image="hv@beta")
    loose = [{"mac": "52:54:00:ff:00:01", "ip": "10.255.0.1"}]
    factory.node(db, hostname="loose", interfaces=loose, image="hv@stable")
    hosts["loose"] = "52:54:00:ff:00:01"
    for mac in hosts.values():
        boot(db, mac)
    return hosts


def _promote(
    db: Database, store: ArtifactStore, settings: Settings, version: str
) -> releases.Release:
    with db.write() as session:
        release = releases.promote(session, store, settings, "hv", version, "stable", "test")
        release.rollouts = list(release.rollouts)
        return release


def test_promotion_starts_a_rollout_per_following_cluster(
    db: Database, store: ArtifactStore, settings: Settings, fleet: dict[str, str]
) -> None:
    with db.write() as session:
        release = releases.promote(session, store, settings, "hv", "2", "stable", "test")
        started = sorted(
            (r.cluster.name, r.trigger, r.channel, len(r.members)) for r in release.rollouts
        )
    assert started == [("c1", "promote", "stable", 3), ("c2", "promote", "stable", 2)]
    assert boot(db, fleet["loose"]).version == "2"
    assert boot(db, fleet["c3n0"]).version == "1"
    canaries = [boot(db, fleet[h], outcome=None).version for h in ("c1n0", "c2n0")]
    held = [boot(db, fleet[h]).version for h in ("c1n1", "c1n2", "c2n1")]
    assert (canaries, held) == (["2", "2"], ["1", "1", "1"])
    with (
        db.write() as session,
        pytest.raises(Conflict, match="was not moved: clusters following it"),
    ):
        releases.promote(session, store, settings, "hv", "1", "stable", "test")
    with db.read() as session:
        image = catalog.get_image(session, "hv")
        channel = catalog.get_channel(session, image, "stable")
        assert channel is not None and channel.version.version == "2"


def test_rollback_supersedes_the_rollout_and_rolls_back_who_moved(
    db: Database, store: ArtifactStore, settings: Settings, fleet: dict[str, str]
) -> None:
    with db.write() as session:
        forward = releases.promote(session, store, settings, "hv", "2", "stable", "test")
        forward_ids = sorted(r.id for r in forward.rollouts)
    assert boot(db, fleet["c1n0"]).version == "2"
    with db.write() as session:
        back = releases.rollback(session, settings, "hv", "stable", "test")
        assert sorted(back.superseded) == forward_ids
        reverse = {r.cluster.name: r for r in back.rollouts}
        assert reverse["c1"].trigger == "rollback"
        c1_states = sorted((m.node.hostname, m.state) for m in reverse["c1"].members)
        assert reverse["c2"].state == "done"
    # c1n1's wave had begun (it should have booted 2) but it still runs 1:
    # the rollback has nothing to do there.
    assert c1_states == [("c1n0", "started"), ("c1n1", "healthy"), ("c1n2", "healthy")]
    assert boot(db, fleet["c1n0"]).version == "1"
    with db.read() as session:
        states = dict(session.execute(select(Rollout.id, Rollout.state)).all())
    assert [states[i] for i in forward_ids] == ["aborted", "aborted"]
    assert states[reverse["c1"].id] == "done"


def test_a_promotion_that_would_break_quorum_moves_nothing(
    db: Database, store: ArtifactStore, settings: Settings, fleet: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput, match="quorum of cluster c1"), db.write() as session:
        releases.promote(session, store, settings, "hv", "2", "stable", "test", max_unavailable=2)
    with db.read() as session:
        image = catalog.get_image(session, "hv")
        channel = catalog.get_channel(session, image, "stable")
        assert channel is not None and channel.version.version == "1"
        assert session.scalar(select(Rollout)) is None
    assert boot(db, fleet["loose"]).version == "1"


def test_promoting_a_missing_version_or_artifact_changes_nothing(
    db: Database, store: ArtifactStore, settings: Settings, fleet: dict[str, str]
) -> None:
    factory.version(db, store, "hv", "3")
    with db.read() as session:
        kernel = next(
            f.sha256 for f in catalog.get_version(session, "hv", "3").files if f.role == "kernel"
        )
    store.remove(kernel)
    for version, error, says in (
        ("9", NotFound, "image 'hv' has no version '9'"),
        ("3", Conflict, "artifacts missing from the store: vmlinuz"),
    ):
        with pytest.raises(error, match=says), db.write() as session:
            releases.promote(session, store, settings, "hv", version, "stable", "test")
    with db.read() as session:
        channel = catalog.get_channel(session, catalog.get_image(session, "hv"), "stable")
        assert channel is not None and channel.version.version == "1"
        assert session.scalar(select(Rollout)) is None
