"""Assignment order: pinned, the node's own channel, its role's in its
cluster, its cluster's, the default; and the one-query-at-a-time facts agree
with the fleet's batch facts on every node."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bootsvc.core.boot import bootplan
from bootsvc.core.boot.bootplan import NoBoot, SessionFacts, Target
from bootsvc.core.boot.fleetfacts import BatchFacts
from bootsvc.core.cmdb import assignments
from bootsvc.errors import InvalidInput, NotFound
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry, Node
from tests.support import factory
from tests.support.rolloutkit import make_cluster


def _decisions(db: Database, default: str) -> dict[str, tuple[str, str]]:
    with db.read() as session:
        nodes = list(session.scalars(select(Node).order_by(Node.hostname)))
        batch = BatchFacts(session)
        found = {}
        for node in nodes:
            one = bootplan.decide(node, SessionFacts(session), default)
            assert one == bootplan.decide(node, batch, default)
            found[node.hostname] = (
                (one.version.label, one.source) if isinstance(one, Target) else ("-", one.reason)
            )
        return found


def test_pin_then_node_then_role_then_cluster_then_default(
    db: Database, store: ArtifactStore
) -> None:
    for image, version in (("hv", "1"), ("hv", "2"), ("other", "1")):
        factory.version(db, store, image, version)
    factory.promote(db, store, "hv", "1", "stable")
    factory.promote(db, store, "hv", "2", "beta")
    factory.promote(db, store, "other", "1", "stable")
    make_cluster(db, "c1", size=2, image=None)
    factory.node(db, hostname="mon", interfaces=[{"mac": "52:54:00:aa:00:01"}], cluster="c1")
    factory.node(
        db,
        hostname="own",
        interfaces=[{"mac": "52:54:00:aa:00:02"}],
        cluster="c1",
        image="other@stable",
    )
    factory.node(
        db, hostname="pinned", interfaces=[{"mac": "52:54:00:aa:00:03"}], cluster="c1", image="hv=2"
    )
    factory.node(db, hostname="loner", interfaces=[{"mac": "52:54:00:aa:00:04"}])
    with db.write() as session:
        assert assignments.assign(session, "c1", None, "hv@stable", "test")
        assert assignments.assign(session, "c1", "ceph-mon", "hv@beta", "test")
        assert not assignments.assign(session, "c1", "ceph-mon", "hv@beta", "test")
        mon = session.scalar(select(Node).where(Node.hostname == "mon"))
        assert mon is not None
        mon.roles = ["ceph-mon", "hypervisor"]
    assert _decisions(db, "other@stable") == {
        "c1n0": ("hv 1", "cluster"),
        "c1n1": ("hv 1", "cluster"),
        "loner": ("other 1", "default"),
        "mon": ("hv 2", "role"),
        "own": ("other 1", "node"),
        "pinned": ("hv 2", "pinned"),
    }
    with db.write() as session:
        assignments.unassign(session, "c1", "ceph-mon", "test")
        assignments.unassign(session, "c1", None, "test")
        with pytest.raises(NotFound, match="has no image assignment"):
            assignments.unassign(session, "c1", None, "test")
    decided = _decisions(db, "")
    assert decided["mon"] == ("-", "node has no image assignment and no default image is set")
    with db.read() as session:
        audited = list(
            session.scalars(
                select(AuditEntry.action)
                .where(
                    AuditEntry.subject.startswith("cluster/c1"), AuditEntry.action.like("image.%")
                )
                .order_by(AuditEntry.id)
            )
        )
    assert audited == ["image.assign", "image.assign", "image.unassign", "image.unassign"]


def test_assignment_refuses_pins_unknown_images_and_clusters(
    db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    make_cluster(db, "c1", size=1, image=None)
    with db.write() as session:
        with pytest.raises(InvalidInput, match="follows IMAGE@CHANNEL"):
            assignments.assign(session, "c1", None, "hv=1", "test")
        with pytest.raises(InvalidInput, match="image 'nope' does not exist"):
            assignments.assign(session, "c1", None, "nope@stable", "test")
        with pytest.raises(NotFound, match="cluster 'c9' does not exist"):
            assignments.assign(session, "c9", None, "hv@stable", "test")
        with pytest.raises(InvalidInput, match="not a valid role"):
            assignments.assign(session, "c1", "Bad Role", "hv@stable", "test")
    with db.read() as session:
        assert assignments.list_for(session, "c1") == []


def test_a_channel_pointing_nowhere_is_a_reason_not_a_crash(
    db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    make_cluster(db, "c1", size=1, image=None)
    with db.write() as session:
        assignments.assign(session, "c1", None, "hv@edge", "test")
    with db.read() as session:
        node = session.scalar(select(Node))
        assert node is not None
        decided = bootplan.decide(node, SessionFacts(session), "")
    assert isinstance(decided, NoBoot) and "hv@edge points at no version" in decided.reason
