"""fleet status: nodes by version, behind their channel, failed, not heard from."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bootsvc.core.boot import fleet
from bootsvc.core.catalog import releases
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Node, NodeSeen
from bootsvc.store.types import utcnow
from tests.support import factory
from tests.support.rolloutkit import boot, make_cluster


def test_status_after_a_promotion_that_failed_on_its_second_node(
    db: Database, store: ArtifactStore, settings: Settings
) -> None:
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    factory.promote(db, store, "hv", "1")
    hosts = make_cluster(db, "c1", size=4)
    for host in ("c1n0", "c1n1", "c1n2"):
        boot(db, hosts[host])
    with db.write() as session:
        releases.promote(session, store, settings, "hv", "2", "stable", "test", 1, 1)
    boot(db, hosts["c1n0"])
    boot(db, hosts["c1n1"], outcome="failed")
    long_ago = utcnow() - timedelta(seconds=settings.fleet_silent_after_s + 60)
    with db.write() as session:
        silent = select(Node.id).where(Node.hostname == "c1n2").scalar_subquery()
        session.execute(update(NodeSeen).values(at=long_ago).where(NodeSeen.node_id == silent))
    with db.read() as session:
        view = fleet.status(session, settings)
    assert view.by_version == {"hv 1": ["c1n2"], "hv 2": ["c1n0"]}
    assert view.behind_channel == ["c1n1", "c1n2", "c1n3"]
    assert view.pending_reboot == ["c1n3"]
    assert view.failed == ["c1n1"]
    assert view.not_heard_from == ["c1n2", "c1n3"]
    assert [(r.cluster, r.state, r.wave) for r in view.rollouts] == [("c1", "halted", 2)]
    by_host = {v.hostname: v for v in view.nodes}
    assert (by_host["c1n1"].status, by_host["c1n1"].failures) == ("failed", 1)
    assert (by_host["c1n1"].desired, by_host["c1n1"].source) == ("hv 1", "fallback")
    assert (by_host["c1n2"].desired, by_host["c1n2"].source) == ("hv 1", "held")
    assert by_host["c1n3"].status == "never-booted"
    assert by_host["c1n0"].boot_s is not None and by_host["c1n0"].booted_at is not None
    with db.read() as session:
        one = fleet.node_status(session, settings, "c1n2")
    assert one == by_host["c1n2"].model_copy(update={"last_seen": one.last_seen})
