"""The fleet page: per cluster, what runs against what should, nodes by
state, the failing, the silent, pending resets, whether corosync keeps its
quorum, and the boots of the last hours."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from flask import Response, request

from bootsvc.core.boot import bootrate, fleet
from bootsvc.core.cmdb import cmdb
from bootsvc.core.rollout import quorum
from bootsvc.core.views.fleet import FleetView, NodeStatusView, RolloutView
from bootsvc.store.types import utcnow
from bootsvc.web.context import services
from bootsvc.web.ui.blueprint import blueprint
from bootsvc.web.ui.page import page
from bootsvc.web.ui.plot import boots_plot

PLOT_MINUTES = 6 * 60
# Names listed per kind of trouble; the node list has the rest.
LISTED = 20


@dataclass
class ClusterSummary:
    name: str | None
    nodes: int = 0
    running: Counter[str] = field(default_factory=Counter)
    desired: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    failing: list[str] = field(default_factory=list)
    silent: list[str] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)
    voters: int = 0
    up: int = 0
    rollouts: list[RolloutView] = field(default_factory=list)

    @property
    def quorate(self) -> bool:
        """Whether the voters not up are few enough for corosync to keep quorum."""
        return self.voters - self.up <= quorum.max_out(self.voters)

    def versions(self) -> list[tuple[str, int, int]]:
        labels = sorted(set(self.running) | set(self.desired))
        return [(label, self.running[label], self.desired[label]) for label in labels]


def summarise(view: FleetView) -> list[ClusterSummary]:
    failing, silent = set(view.failed), set(view.not_heard_from)
    resets = set(view.pending_reset)
    found: dict[str | None, ClusterSummary] = {}
    for node in view.nodes:
        summary = found.setdefault(node.cluster, ClusterSummary(node.cluster))
        _count(summary, node, node.hostname in silent)
        for names, listed in (
            (failing, summary.failing),
            (silent, summary.silent),
            (resets, summary.resets),
        ):
            if node.hostname in names:
                listed.append(node.hostname)
    for rollout in view.rollouts:
        found.setdefault(rollout.cluster, ClusterSummary(rollout.cluster)).rollouts.append(rollout)
    return sorted(found.values(), key=lambda s: (s.name is None, s.name or ""))


def _count(summary: ClusterSummary, node: NodeStatusView, silent: bool) -> None:
    summary.nodes += 1
    summary.states[node.state] += 1
    summary.statuses[node.status] += 1
    if node.booted and node.status in ("up", "unhealthy"):
        summary.running[node.booted] += 1
    if node.desired:
        summary.desired[node.desired] += 1
    if node.state == "active":
        summary.voters += 1
        summary.up += node.status == "up" and not silent


@blueprint.get("/fleet")
def fleet_page() -> Response:
    ctx = services()
    cluster = request.args.get("cluster", "")
    now = utcnow()
    with ctx.db.read() as session:
        view = fleet.status(session, ctx.settings, cluster or None, now)
        cluster_id = cmdb.get_cluster(session, cluster).id if cluster else None
        rate = bootrate.per_minute(session, now, PLOT_MINUTES, cluster_id)
        clusters = [c.name for c in cmdb.list_clusters(session)]
    return page(
        "fleet.html",
        view=view,
        summaries=summarise(view),
        plot=boots_plot(rate),
        cluster=cluster,
        clusters=clusters,
        listed=LISTED,
    )
