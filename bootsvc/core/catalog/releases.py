"""Promotion and rollback of a channel, as the fleet sees them.

Moving a channel alone would hand the new version to every node following it
at its next boot, and the agents would reboot them all as fast as FleetLock
lets them. So the move and one rollout per cluster that follows the channel
commit together: each cluster takes the version wave by wave, a canary first,
and nodes that have not had their wave keep the version they run. Nodes
outside any cluster have no quorum to protect and follow the channel at once.

Promotion is refused while a following cluster has a rollout under way.
Rollback is the way out of a bad rollout, so it supersedes one (aborting it)
and starts the same rollout the other way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.core.boot import bootplan
from bootsvc.core.boot.bootplan import Target
from bootsvc.core.boot.fleetfacts import BatchFacts
from bootsvc.core.catalog import catalog
from bootsvc.core.catalog.catalog import ChannelMove
from bootsvc.core.cmdb import names
from bootsvc.core.rollout import rollouts
from bootsvc.core.rollout.rollouts import Follower
from bootsvc.errors import Conflict, NotFound
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.models import Cluster, ImageVersion, Node, Rollout


@dataclass
class Release:
    move: ChannelMove
    rollouts: list[Rollout] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)


def _followers_by_cluster(
    session: Session, settings: Settings, followed: str
) -> dict[int, list[tuple[Node, Target]]]:
    """Active, unpinned clustered nodes whose assignment follows `followed`
    (IMAGE@CHANNEL), with what each boots now."""
    nodes = list(
        session.scalars(
            select(Node)
            .where(Node.state == "active", Node.cluster_id.is_not(None))
            .order_by(Node.hostname)
        )
    )
    facts = BatchFacts(session)
    found: dict[int, list[tuple[Node, Target]]] = defaultdict(list)
    for node in nodes:
        target = bootplan.decide(node, facts, settings.default_image)
        if isinstance(target, Target) and target.channel == followed and node.cluster_id:
            found[node.cluster_id].append((node, target))
    return found


def _start_all(
    session: Session,
    settings: Settings,
    before: dict[int, list[tuple[Node, Target]]],
    target: ImageVersion,
    channel: str,
    actor: str,
    trigger: str,
    canary: int | None,
    max_unavailable: int | None,
) -> list[Rollout]:
    started = []
    for cluster_id, members in sorted(before.items()):
        cluster = session.get(Cluster, cluster_id)
        if cluster is None:
            continue
        rules = rollouts.policy(settings, cluster, canary, max_unavailable)
        rollouts.check_quorum(session, cluster, rules.max_unavailable)
        found = [Follower(node, now.version.id, target.id) for node, now in members]
        started.append(
            rollouts.create(session, cluster, target, found, rules, actor, trigger, channel)
        )
    return started


def promote(
    session: Session,
    store: ArtifactStore,
    settings: Settings,
    image_name: str,
    version: str,
    channel: str,
    actor: str,
    canary: int | None = None,
    max_unavailable: int | None = None,
) -> Release:
    names.object_name(channel, "channel")
    catalog.get_version(session, image_name, version)
    before = _followers_by_cluster(session, settings, f"{image_name}@{channel}")
    busy = []
    for cluster_id in sorted(before):
        current = rollouts.active(session, cluster_id)
        if current is not None:
            busy.append(f"{current.cluster.name} (rollout {current.id}, {current.state})")
    if busy:
        raise Conflict(
            f"{image_name}@{channel} was not moved: clusters following it have a rollout "
            f"under way: {', '.join(busy)}; wait for them, abort them, or roll the channel back"
        )
    move = catalog.promote(session, store, image_name, version, channel, actor)
    if not move.changed:
        return Release(move)
    target = move.channel.version
    started = _start_all(
        session, settings, before, target, channel, actor, "promote", canary, max_unavailable
    )
    return Release(move, started)


def rollback(
    session: Session,
    settings: Settings,
    image_name: str,
    channel: str,
    actor: str,
    canary: int | None = None,
    max_unavailable: int | None = None,
) -> Release:
    image = catalog.get_image(session, image_name)
    if catalog.get_channel(session, image, channel) is None:
        raise NotFound(f"image {image_name!r} has no channel {channel!r}")
    before = _followers_by_cluster(session, settings, f"{image_name}@{channel}")
    move = catalog.rollback(session, image_name, channel, actor)
    superseded = []
    for cluster_id in sorted(before):
        current = rollouts.active(session, cluster_id)
        if current is not None:
            why = f"superseded by the rollback of {image_name}@{channel}"
            rollouts.abort(session, current.id, actor, why)
            superseded.append(current.id)
    session.flush()
    target = move.channel.version
    started = _start_all(
        session, settings, before, target, channel, actor, "rollback", canary, max_unavailable
    )
    return Release(move, started, superseded)
