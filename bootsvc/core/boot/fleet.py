"""The fleet at a glance: for every node what it should boot and why (from
bootplan), what it booted last and how that went (from its boots), and when
it was last heard from. Loaded with a fixed number of queries whatever the
size of the fleet."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, or_, select
from sqlalchemy.orm import Session

from bootsvc.core.boot import bootplan, boots
from bootsvc.core.boot.bootplan import PlannedNode, Target, VersionRef
from bootsvc.core.boot.fleetfacts import BatchFacts
from bootsvc.core.cmdb import cmdb, enlistment
from bootsvc.core.views.fleet import (
    FleetView,
    NodeStatusView,
    RolloutView,
    SlotView,
    rollout_view,
    slot_view,
)
from bootsvc.settings import Settings
from bootsvc.store.models import (
    ROLLOUT_ACTIVE_STATES,
    Cluster,
    Node,
    NodeBoot,
    NodeSeen,
    RebootSlot,
    Rollout,
)
from bootsvc.store.types import utcnow

CAME_UP = (boots.UP, boots.UNHEALTHY)


class _Boot(NamedTuple):
    """The columns of a boot that a status shows: a fleet's worth of whole
    rows (with their JSON details) costs seconds at 10,000 nodes."""

    node_id: int
    outcome: str
    version_id: int | None
    script_at: datetime | None
    up_at: datetime | None


class StatusNode(PlannedNode, Protocol):
    @property
    def reset_id(self) -> int | None: ...


class NodeRow(NamedTuple):
    """A node's columns that its status needs, for a whole fleet at once."""

    id: int
    hostname: str
    state: str
    pinned_version_id: int | None
    image_id: int | None
    channel: str | None
    cluster_id: int | None
    roles: list[str]
    reset_id: int | None


# The nodes whose boots to read: their ids, or a query that gives them.
Scope = list[int] | Select[Any]


def _latest(session: Session, scope: Scope, outcomes: tuple[str, ...] | None) -> dict[int, _Boot]:
    newest = select(func.max(NodeBoot.id)).group_by(NodeBoot.node_id)
    if outcomes is not None:
        newest = newest.where(NodeBoot.outcome.in_(outcomes))
    newest = newest.where(NodeBoot.node_id.in_(scope))
    rows = session.execute(
        select(
            NodeBoot.node_id,
            NodeBoot.outcome,
            NodeBoot.version_id,
            NodeBoot.script_at,
            NodeBoot.up_at,
        ).where(NodeBoot.id.in_(newest))
    )
    return {row.node_id: _Boot(*row) for row in rows}


def _refusals(session: Session, last: dict[int, _Boot]) -> dict[int, str]:
    """Why each node whose last boot bootsvc refused was refused: only
    those boots' details are read."""
    refused = [node_id for node_id, boot in last.items() if boot.outcome == boots.REFUSED]
    if not refused:
        return {}
    newest = (
        select(func.max(NodeBoot.id))
        .where(NodeBoot.node_id.in_(refused))
        .group_by(NodeBoot.node_id)
    )
    rows = session.execute(
        select(NodeBoot.node_id, NodeBoot.details).where(NodeBoot.id.in_(newest))
    )
    return {node_id: str(details.get("reason", "")) for node_id, details in rows}


def label(ref: VersionRef | None) -> str | None:
    return ref.label if ref is not None else None


# The rules below make a node's status and the fleet page's counts alike
# (bootsvc.core.boot.fleetsummary), so that the two never disagree.


def boot_status(
    outcome: str | None, script_at: datetime | None, now: datetime, stuck_after: timedelta
) -> str:
    """How its last boot went; `outcome` is None when it never booted."""
    if outcome is None:
        return "never-booted"
    if outcome == boots.BOOTING:
        started = script_at or now
        return "stuck" if now - started > stuck_after else "booting"
    return outcome


def stuck_limit(settings: Settings) -> timedelta:
    """A boot that has not come up after this long is stuck."""
    return timedelta(seconds=settings.rollout_health_timeout_s)


def in_trouble(status: str, source: str | None) -> bool:
    return status in {"failed", "unhealthy", "stuck", boots.REFUSED} or source == "fallback"


def silent_since(settings: Settings, now: datetime) -> datetime:
    """A node last heard from before this (or never) is silent."""
    return now - timedelta(seconds=settings.fleet_silent_after_s)


def is_silent(last_seen: datetime | None, since: datetime) -> bool:
    return last_seen is None or last_seen < since


def silent_clause(last_seen: SQLColumnExpression[datetime], since: datetime) -> ColumnElement[bool]:
    """`is_silent` in SQL, for counting nodes without loading them."""
    return or_(last_seen.is_(None), last_seen < since)


def node_statuses(
    session: Session,
    settings: Settings,
    nodes: Sequence[StatusNode],
    now: datetime,
    scope: Scope | None = None,
) -> list[NodeStatusView]:
    """The statuses of `nodes`; `scope` selects their ids in SQL when they
    are too many to list as bound parameters (a whole fleet)."""
    if not nodes:
        return []
    if scope is None:
        scope = [node.id for node in nodes]
    facts = BatchFacts(session, scope if isinstance(scope, list) else None)
    clusters = dict(session.execute(select(Cluster.id, Cluster.name)).all())
    last = _latest(session, scope, None)
    came_up = _latest(session, scope, CAME_UP)
    failures: dict[int, int] = dict(
        session.execute(
            select(NodeBoot.node_id, func.count())
            .where(NodeBoot.outcome.in_(boots.BAD_OUTCOMES), NodeBoot.node_id.in_(scope))
            .group_by(NodeBoot.node_id)
        ).all()
    )
    seen = dict(
        session.execute(
            select(NodeSeen.node_id, NodeSeen.at).where(NodeSeen.node_id.in_(scope))
        ).all()
    )
    refusals = _refusals(session, last)
    stuck = stuck_limit(settings)
    views = []
    for node in nodes:
        decided = bootplan.decide(node, facts, settings.default_image)
        target = decided if isinstance(decided, Target) else None
        booted = came_up.get(node.id)
        last_boot = last.get(node.id)
        booted_version = facts.version(booted.version_id) if booted and booted.version_id else None
        views.append(
            NodeStatusView(
                hostname=node.hostname,
                cluster=clusters.get(node.cluster_id) if node.cluster_id else None,
                state=node.state,
                desired=label(target.version) if target else None,
                reason=decided.reason,
                source=target.source if target else None,
                rollout=target.rollout_id if target else None,
                channel=target.channel if target else None,
                channel_version=label(target.baseline) if target and target.channel else None,
                booted=label(booted_version),
                booted_at=booted.up_at if booted else None,
                boot_s=boots.duration_s(booted.script_at, booted.up_at) if booted else None,
                status=boot_status(
                    last_boot.outcome if last_boot else None,
                    last_boot.script_at if last_boot else None,
                    now,
                    stuck,
                ),
                refused=refusals.get(node.id),
                failures=failures.get(node.id, 0),
                last_seen=seen.get(node.id),
                reset=node.reset_id,
            )
        )
    return views


def active_rollouts(session: Session, cluster: str | None = None) -> list[RolloutView]:
    rollouts = select(Rollout).where(Rollout.state.in_(ROLLOUT_ACTIVE_STATES)).order_by(Rollout.id)
    if cluster:
        rollouts = rollouts.join(Cluster).where(Cluster.name == cluster)
    return [rollout_view(r, with_members=False) for r in session.scalars(rollouts)]


def reboot_slots(session: Session, cluster: str | None = None) -> list[SlotView]:
    slots = (
        select(RebootSlot, Cluster.name)
        .outerjoin(Cluster, Cluster.id == RebootSlot.cluster_id)
        .order_by(RebootSlot.taken_at)
    )
    if cluster:
        slots = slots.where(Cluster.name == cluster)
    return [slot_view(slot, name) for slot, name in session.execute(slots).all()]


def status(
    session: Session, settings: Settings, cluster: str | None = None, now: datetime | None = None
) -> FleetView:
    now = now or utcnow()
    scope = select(Node.id)
    if cluster:
        scope = scope.where(Node.cluster_id == cmdb.get_cluster(session, cluster).id)
    columns = select(*(getattr(Node, name) for name in NodeRow._fields))
    rows = session.execute(columns.where(Node.id.in_(scope)).order_by(Node.hostname))
    views = node_statuses(session, settings, [NodeRow(*row) for row in rows], now, scope)
    since = silent_since(settings, now)
    by_version: dict[str, list[str]] = defaultdict(list)
    for view in views:
        if view.booted and view.status in CAME_UP:
            by_version[view.booted].append(view.hostname)
    active = [view for view in views if view.state == "active"]
    return FleetView(
        at=now,
        silent_after_s=settings.fleet_silent_after_s,
        by_version=dict(sorted(by_version.items())),
        behind_channel=[
            v.hostname for v in active if v.channel_version and v.booted != v.channel_version
        ],
        pending_reboot=[v.hostname for v in active if v.desired and v.booted != v.desired],
        failed=[v.hostname for v in active if in_trouble(v.status, v.source)],
        not_heard_from=[v.hostname for v in active if is_silent(v.last_seen, since)],
        pending_reset=[v.hostname for v in views if v.reset is not None],
        rollouts=active_rollouts(session, cluster),
        reboot_slots=reboot_slots(session, cluster),
        enlistment=enlistment.stats(session, settings),
        nodes=views,
    )


def node_status(
    session: Session, settings: Settings, hostname: str, now: datetime | None = None
) -> NodeStatusView:
    node = cmdb.get_node(session, hostname)
    return node_statuses(session, settings, [node], now or utcnow())[0]
