"""The fleet page's counts per cluster against the per-node statuses of the
same fleet: failing, silent, stuck, never booted, pending reset, mid-rollout,
fallback, disabled and outside any cluster."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from bootsvc.core.boot import fleet, fleetsummary
from bootsvc.core.boot.fleetsummary import ClusterSummary
from bootsvc.core.catalog import releases
from bootsvc.core.cmdb import disks
from bootsvc.core.views.fleet import FleetView
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Node, NodeBoot, NodeSeen
from bootsvc.store.types import utcnow
from tests.support import factory
from tests.support.rolloutkit import boot, make_cluster


def _backdate(db: Database, hostname: str, table: Any, column: Any, at: datetime) -> None:
    with db.write() as session:
        node_id = select(Node.id).where(Node.hostname == hostname).scalar_subquery()
        session.execute(update(table).values({column: at}).where(table.node_id == node_id))


def _mixed_fleet(db: Database, store: ArtifactStore, settings: Settings) -> None:
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    factory.promote(db, store, "hv", "1")
    c1 = make_cluster(db, "c1", size=6)
    c2 = make_cluster(db, "c2", size=4, number=2)
    c3 = make_cluster(db, "c3", size=2, number=3)
    hosts = c1 | c2 | c3
    for host in ("c1n0", "c1n1", "c1n2", "c1n3", "c1n4", "c2n0", "c2n1", "c2n2", "c3n0", "c3n1"):
        boot(db, hosts[host])
    factory.node(db, hostname="loner", interfaces=[{"mac": "52:54:00:99:00:01"}])
    factory.node(db, hostname="c2off", serial="S-OFF", cluster="c2", state="disabled")
    with db.write() as session:
        releases.promote(session, store, settings, "hv", "2", "stable", "test", 1, 1)
        disks.request_reset(session, "c1n4", "test")
    boot(db, c1["c1n0"])
    boot(db, c1["c1n1"], outcome="failed")
    boot(db, c1["c1n3"], outcome=None)
    boot(db, c3["c3n0"], outcome="failed")
    boot(db, c3["c3n0"])
    long_ago = utcnow() - timedelta(days=1)
    _backdate(db, "c1n3", NodeBoot, "script_at", long_ago)
    _backdate(db, "c1n2", NodeSeen, "at", long_ago)


def _from_statuses(view: FleetView) -> dict[str | None, dict[str, Any]]:
    """What each cluster should show, counted node by node."""
    running = {host: label for label, hosts in view.by_version.items() for host in hosts}
    found: dict[str | None, dict[str, Any]] = {}
    for node in view.nodes:
        counts = found.setdefault(
            node.cluster,
            {key: Counter() for key in ("states", "statuses", "running", "desired")}
            | {key: [] for key in ("failing", "silent", "resets")}
            | {"nodes": 0, "voters": 0, "up": 0},
        )
        counts["nodes"] += 1
        counts["states"][node.state] += 1
        counts["statuses"][node.status] += 1
        if node.hostname in running:
            counts["running"][running[node.hostname]] += 1
        if node.desired:
            counts["desired"][node.desired] += 1
        for key, names in (
            ("failing", view.failed),
            ("silent", view.not_heard_from),
            ("resets", view.pending_reset),
        ):
            if node.hostname in names:
                counts[key].append(node.hostname)
        if node.state == "active":
            counts["voters"] += 1
            counts["up"] += node.status == "up" and node.hostname not in view.not_heard_from
    return found


def _shown(summary: ClusterSummary) -> dict[str, Any]:
    return {
        "nodes": summary.nodes,
        "states": summary.states,
        "statuses": summary.statuses,
        "running": summary.running,
        "desired": summary.desired,
        "failing": summary.failing,
        "silent": summary.silent,
        "resets": summary.resets,
        "voters": summary.voters,
        "up": summary.up,
    }


def test_the_page_counts_what_the_node_statuses_say(
    db: Database, store: ArtifactStore, settings: Settings
) -> None:
    _mixed_fleet(db, store, settings)
    now = utcnow()
    with db.read() as session:
        view = fleet.status(session, settings, now=now)
        summaries = fleetsummary.by_cluster(session, settings, None, now)
        only_c2 = fleetsummary.by_cluster(session, settings, "c2", now)
    by_host = {node.hostname: node for node in view.nodes}
    assert {by_host[h].status for h in ("c1n1", "c1n3", "c1n5")} == {
        "failed",
        "stuck",
        "never-booted",
    }
    assert {by_host[h].source for h in ("c1n1", "c1n2", "c2n0")} == {"fallback", "held", "rollout"}
    assert (by_host["c3n0"].status, by_host["c3n0"].source) == ("up", "fallback")
    assert by_host["c1n2"].hostname in view.not_heard_from and view.pending_reset == ["c1n4"]

    expected = _from_statuses(view)
    assert {s.name: _shown(s) for s in summaries} == expected
    assert [s.name for s in summaries] == ["c1", "c2", "c3", None]
    assert summaries[0].failing == ["c1n1", "c1n3"] and summaries[0].statuses["up"] == 3
    assert [(r.cluster, r.state) for s in summaries for r in s.rollouts] == [
        ("c1", "halted"),
        ("c2", "running"),
        ("c3", "halted"),
    ]
    assert [(s.name, _shown(s)) for s in only_c2] == [("c2", expected["c2"])]
