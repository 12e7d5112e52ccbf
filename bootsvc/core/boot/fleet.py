"""The fleet at a glance: for every node what it should boot and why (from
bootplan), what it booted last and how that went (from its boots), and when
it was last heard from. Loaded with a fixed number of queries whatever the
size of the fleet."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from bootsvc.core.boot import bootplan, boots
from bootsvc.core.boot.bootplan import Target, VersionRef
from bootsvc.core.boot.fleetfacts import BatchFacts
from bootsvc.core.cmdb import cmdb, enlistment
from bootsvc.core.views.fleet import (
    FleetView,
    NodeStatusView,
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

_CAME_UP = (boots.UP, boots.UNHEALTHY)
_BAD = (boots.FAILED, boots.UNHEALTHY, boots.ABANDONED)


def _latest(
    session: Session, ids: list[int], outcomes: tuple[str, ...] | None
) -> dict[int, NodeBoot]:
    newest = select(func.max(NodeBoot.id)).group_by(NodeBoot.node_id)
    if outcomes is not None:
        newest = newest.where(NodeBoot.outcome.in_(outcomes))
    newest = newest.where(NodeBoot.node_id.in_(ids))
    rows = session.scalars(select(NodeBoot).where(NodeBoot.id.in_(newest)))
    return {boot.node_id: boot for boot in rows}


def _label(ref: VersionRef | None) -> str | None:
    return ref.label if ref is not None else None


def _status(last: NodeBoot | None, now: datetime, stuck_after: timedelta) -> str:
    if last is None:
        return "never-booted"
    if last.outcome == boots.BOOTING:
        started = last.script_at or now
        return "stuck" if now - started > stuck_after else "booting"
    return last.outcome


def node_statuses(
    session: Session, settings: Settings, nodes: list[Node], now: datetime
) -> list[NodeStatusView]:
    if not nodes:
        return []
    ids = [node.id for node in nodes]
    facts = BatchFacts(session, ids)
    last = _latest(session, ids, None)
    came_up = _latest(session, ids, _CAME_UP)
    failures: dict[int, int] = dict(
        session.execute(
            select(NodeBoot.node_id, func.count())
            .where(NodeBoot.outcome.in_(_BAD), NodeBoot.node_id.in_(ids))
            .group_by(NodeBoot.node_id)
        ).all()
    )
    seen = dict(
        session.execute(
            select(NodeSeen.node_id, NodeSeen.at).where(NodeSeen.node_id.in_(ids))
        ).all()
    )
    stuck_after = timedelta(seconds=settings.rollout_health_timeout_s)
    views = []
    for node in nodes:
        decided = bootplan.decide(node, facts, settings.default_image)
        target = decided if isinstance(decided, Target) else None
        booted = came_up.get(node.id)
        booted_version = facts.version(booted.version_id) if booted and booted.version_id else None
        views.append(
            NodeStatusView(
                hostname=node.hostname,
                cluster=node.cluster.name if node.cluster else None,
                state=node.state,
                desired=_label(target.version) if target else None,
                reason=decided.reason,
                source=target.source if target else None,
                rollout=target.rollout_id if target else None,
                channel=target.channel if target else None,
                channel_version=_label(target.baseline) if target and target.channel else None,
                booted=_label(booted_version),
                booted_at=booted.up_at if booted else None,
                boot_s=boots.duration_s(booted) if booted else None,
                status=_status(last.get(node.id), now, stuck_after),
                failures=failures.get(node.id, 0),
                last_seen=seen.get(node.id),
                reset=node.reset_id,
            )
        )
    return views


def _problem(view: NodeStatusView) -> bool:
    return view.status in {"failed", "unhealthy", "stuck"} or view.source == "fallback"


def status(
    session: Session, settings: Settings, cluster: str | None = None, now: datetime | None = None
) -> FleetView:
    now = now or utcnow()
    query = select(Node).options(joinedload(Node.cluster)).order_by(Node.hostname)
    if cluster:
        query = query.where(Node.cluster_id == cmdb.get_cluster(session, cluster).id)
    nodes = list(session.scalars(query))
    views = node_statuses(session, settings, nodes, now)
    silent_after = timedelta(seconds=settings.fleet_silent_after_s)
    by_version: dict[str, list[str]] = defaultdict(list)
    for view in views:
        if view.booted and view.status in _CAME_UP:
            by_version[view.booted].append(view.hostname)
    active = [view for view in views if view.state == "active"]
    rollouts = select(Rollout).where(Rollout.state.in_(ROLLOUT_ACTIVE_STATES)).order_by(Rollout.id)
    slots = (
        select(RebootSlot, Cluster.name)
        .outerjoin(Cluster, Cluster.id == RebootSlot.cluster_id)
        .order_by(RebootSlot.taken_at)
    )
    if cluster:
        rollouts = rollouts.join(Cluster).where(Cluster.name == cluster)
        slots = slots.where(Cluster.name == cluster)
    return FleetView(
        at=now,
        silent_after_s=settings.fleet_silent_after_s,
        by_version=dict(sorted(by_version.items())),
        behind_channel=[
            v.hostname for v in active if v.channel_version and v.booted != v.channel_version
        ],
        pending_reboot=[v.hostname for v in active if v.desired and v.booted != v.desired],
        failed=[v.hostname for v in active if _problem(v)],
        not_heard_from=[
            v.hostname for v in active if v.last_seen is None or now - v.last_seen > silent_after
        ],
        pending_reset=[v.hostname for v in views if v.reset is not None],
        rollouts=[rollout_view(r, with_members=False) for r in session.scalars(rollouts)],
        reboot_slots=[slot_view(slot, name) for slot, name in session.execute(slots).all()],
        enlistment=enlistment.stats(session, settings),
        nodes=views,
    )


def node_status(
    session: Session, settings: Settings, hostname: str, now: datetime | None = None
) -> NodeStatusView:
    node = cmdb.get_node(session, hostname)
    return node_statuses(session, settings, [node], now or utcnow())[0]
