"""The fleet per cluster: versions running against desired, nodes by state
and status, the failing, the silent, pending resets and quorum. Nodes alike
in all that decides these (their assignment, rollout membership, last boot,
silence) are counted as one group in SQL and decided once, by the same rules
as a node's status (bootsvc.core.boot.fleet): a fleet costs one decision per
group, not one per node."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from bootsvc.core.boot import bootplan, boots, fleet
from bootsvc.core.boot.bootplan import (
    Assignments,
    ImageKey,
    Membership,
    Target,
    VersionRef,
    membership,
    membership_query,
)
from bootsvc.core.boot.fleetfacts import BatchFacts
from bootsvc.core.cmdb import cmdb
from bootsvc.core.rollout import quorum
from bootsvc.core.views.fleet import RolloutView
from bootsvc.settings import Settings
from bootsvc.store.models import Cluster, Node, NodeBoot, NodeSeen


@dataclass(frozen=True)
class NodeGroup:
    """Nodes of one cluster that count alike: same state, boot status,
    version running and desired, trouble, silence and pending reset."""

    cluster_id: int | None
    hostnames: list[str]
    state: str
    status: str
    running: str | None
    desired: str | None
    in_trouble: bool
    silent: bool
    reset: bool


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

    def add(self, group: NodeGroup) -> None:
        # Only active nodes vote, fail or fall silent, as in the fleet status.
        count = len(group.hostnames)
        self.nodes += count
        self.states[group.state] += count
        self.statuses[group.status] += count
        if group.running:
            self.running[group.running] += count
        if group.desired:
            self.desired[group.desired] += count
        if group.state == "active":
            self.voters += count
            if group.status == "up" and not group.silent:
                self.up += count
            if group.in_trouble:
                self.failing.extend(group.hostnames)
            if group.silent:
                self.silent.extend(group.hostnames)
        if group.reset:
            self.resets.extend(group.hostnames)


@dataclass(frozen=True)
class _GroupFacts:
    """bootplan's facts as a group's nodes see them: the fleet's catalog and
    assignments, and the rollout membership that they share."""

    facts: BatchFacts
    member: Membership | None

    def version(self, version_id: int) -> VersionRef | None:
        return self.facts.version(version_id)

    def channel(self, image: ImageKey, channel: str) -> VersionRef | None:
        return self.facts.channel(image, channel)

    def image_name(self, image: ImageKey) -> str:
        return self.facts.image_name(image)

    def assignments(self, cluster_id: int) -> Assignments:
        return self.facts.assignments(cluster_id)

    def membership(self, node_id: int) -> Membership | None:
        return self.member


# What bootplan reads of a node besides its id and hostname.
_NODE_COLUMNS = fleet.NodeRow._fields[2:-1]


def _groups(silent_since: datetime, cluster_id: int | None) -> Select[Any]:
    """One row per group of like nodes: what they share, how many, and
    their hostnames. A booting node's start time is part of its group, as
    it decides whether the boot is stuck; other boots' times are not."""
    member = membership_query().subquery()
    newest = (
        select(NodeBoot.node_id, func.max(NodeBoot.id).label("id"))
        .group_by(NodeBoot.node_id)
        .subquery()
    )
    nodes = (
        select(
            Node.id,
            Node.hostname,
            *(getattr(Node, name) for name in _NODE_COLUMNS),
            Node.reset_id.is_not(None).label("reset"),
            NodeBoot.outcome,
            NodeBoot.version_id,
            case((NodeBoot.outcome == boots.BOOTING, NodeBoot.script_at)).label("booting_since"),
            fleet.silent_clause(NodeSeen.at, silent_since).label("silent"),
            *list(member.c)[1:],
        )
        .outerjoin(newest, newest.c.node_id == Node.id)
        .outerjoin(NodeBoot, NodeBoot.id == newest.c.id)
        .outerjoin(NodeSeen, NodeSeen.node_id == Node.id)
        .outerjoin(member, member.c.node_id == Node.id)
    )
    if cluster_id is not None:
        nodes = nodes.where(Node.cluster_id == cluster_id)
    inner = nodes.subquery()
    shared = list(inner.c)[2:]
    return select(
        func.min(inner.c.id),
        func.aggregate_strings(inner.c.hostname, ","),
        *shared,
    ).group_by(*shared)


def _group(row: Sequence[Any], facts: BatchFacts, settings: Settings, now: datetime) -> NodeGroup:
    hostnames = sorted(row[1].split(","))
    width = len(_NODE_COLUMNS)
    # The group's reset flag is counted apart; bootplan does not read it.
    node = fleet.NodeRow._make((row[0], hostnames[0], *row[2 : 2 + width], None))
    reset, outcome, version_id, booting_since, silent = row[2 + width : 7 + width]
    # membership() reads a node id first, then the rollout's columns.
    member_row = (row[0], *row[7 + width :])
    member = membership(member_row) if member_row[1] is not None else None
    decided = bootplan.decide(node, _GroupFacts(facts, member), settings.default_image)
    target = decided if isinstance(decided, Target) else None
    status = fleet.boot_status(outcome, booting_since, now, fleet.stuck_limit(settings))
    # A node's last boot that came up is also its newest one that did.
    came_up = status in fleet.CAME_UP and version_id is not None
    return NodeGroup(
        cluster_id=node.cluster_id,
        hostnames=hostnames,
        state=node.state,
        status=status,
        running=fleet.label(facts.version(version_id)) if came_up else None,
        desired=fleet.label(target.version) if target else None,
        in_trouble=fleet.in_trouble(status, target.source if target else None),
        silent=bool(silent),
        reset=bool(reset),
    )


def by_cluster(
    session: Session, settings: Settings, cluster: str | None, now: datetime
) -> list[ClusterSummary]:
    """Every cluster with nodes or an active rollout (or only `cluster`),
    and the nodes outside any cluster last."""
    cluster_id = cmdb.get_cluster(session, cluster).id if cluster else None
    facts = BatchFacts(session, node_ids=())
    names = dict(session.execute(select(Cluster.id, Cluster.name)).all())
    found: dict[str | None, ClusterSummary] = {}
    query = _groups(fleet.silent_since(settings, now), cluster_id)
    for row in session.execute(query):
        group = _group(row, facts, settings, now)
        name = names.get(group.cluster_id) if group.cluster_id is not None else None
        found.setdefault(name, ClusterSummary(name)).add(group)
    for rollout in fleet.active_rollouts(session, cluster):
        found.setdefault(rollout.cluster, ClusterSummary(rollout.cluster)).rollouts.append(rollout)
    for summary in found.values():
        for names_listed in (summary.failing, summary.silent, summary.resets):
            names_listed.sort()
    return sorted(found.values(), key=lambda s: (s.name is None, s.name or ""))
