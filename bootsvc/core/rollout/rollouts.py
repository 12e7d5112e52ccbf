"""Rollouts: moving the nodes of one cluster that boot one image to another
version, a canary first, then batches of at most K, each wave only after every
node of the one before has reported healthy on the new version.

A rollout reboots nothing. It changes what each node should boot (bootplan
asks it); the node's agent sees the difference and reboots itself once
FleetLock gives it a slot. Progress comes from the nodes' boot reports
(`observe`) and from a clock (`tick`) that stops the rollout when a node takes
too long. A node whose candidate boots keep failing falls back to its old
version at its next boot, and the rollout stops there: a bad image stops
after the canary, not after the last node.

Functions take an open write Session; the caller owns the transaction, so a
step and its audit entry commit together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from bootsvc.core import audit
from bootsvc.core.boot import bootplan, boots
from bootsvc.core.boot.bootplan import Target
from bootsvc.core.boot.fleetfacts import BatchFacts
from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb import cmdb
from bootsvc.core.rollout import quorum, waves
from bootsvc.errors import Conflict, InvalidInput, NotFound
from bootsvc.logs import event
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.models import (
    ROLLOUT_ACTIVE_STATES,
    Cluster,
    ImageVersion,
    Node,
    Rollout,
    RolloutMember,
)
from bootsvc.store.types import utcnow

RUNNING, PAUSED, HALTED, DONE, ABORTED = "running", "paused", "halted", "done", "aborted"
PENDING, STARTED, HEALTHY, FAILED, LEFT = "pending", "started", "healthy", "failed", "left"
# A wave is over when each of its nodes is healthy on the candidate, or has
# left the rollout (reassigned, pinned, disabled or moved by an admin).
_SETTLED = {HEALTHY, LEFT}
SYSTEM = "bootsvc"
# Above any cluster's size: a canary or a wave larger than the cluster is all
# of it, and a number past this is a typo, not a plan.
MAX_NODES = 100_000

log = logging.getLogger("bootsvc.rollout")


@dataclass(frozen=True)
class Policy:
    canary: int
    max_unavailable: int
    max_attempts: int
    health_timeout_s: int


@dataclass(frozen=True)
class Follower:
    """A node a rollout will hold: the version it boots now, and what its
    own assignment gives once the rollout begins."""

    node: Node
    from_version_id: int
    baseline_version_id: int


def _cluster_number(cluster: Cluster, key: str, default: int) -> int:
    value = cluster.settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"cluster {cluster.name}: setting {key} must be a whole number")
    return value


def policy(
    settings: Settings,
    cluster: Cluster,
    canary: int | None = None,
    max_unavailable: int | None = None,
) -> Policy:
    """Flags first, then the cluster's settings, then bootsvc's."""
    if canary is None:
        canary = _cluster_number(cluster, "rollout_canary", settings.rollout_canary)
    if max_unavailable is None:
        max_unavailable = _cluster_number(
            cluster, "rollout_max_unavailable", settings.rollout_max_unavailable
        )
    if not 0 <= canary <= MAX_NODES:
        raise InvalidInput(f"canary must be between 0 and {MAX_NODES}, not {canary}")
    if not 1 <= max_unavailable <= MAX_NODES:
        raise InvalidInput(
            f"max-unavailable must be between 1 and {MAX_NODES}, not {max_unavailable}"
        )
    return Policy(
        canary, max_unavailable, settings.rollout_boot_attempts, settings.rollout_health_timeout_s
    )


def voters(session: Session, cluster_id: int) -> int:
    """Corosync's voting members: the cluster's active nodes."""
    count = session.scalar(
        select(func.count()).where(Node.cluster_id == cluster_id, Node.state == "active")
    )
    return count or 0


def check_quorum(session: Session, cluster: Cluster, max_unavailable: int) -> None:
    count = voters(session, cluster.id)
    allowed = quorum.max_out(count)
    if max_unavailable > allowed:
        raise InvalidInput(
            f"max-unavailable {max_unavailable} would break the quorum of cluster "
            f"{cluster.name}: of its {count} voting nodes, corosync keeps quorum with at most "
            f"{allowed} out",
            allowed=allowed,
            voters=count,
        )


def active(session: Session, cluster_id: int, lock: bool = False) -> Rollout | None:
    query = select(Rollout).where(
        Rollout.cluster_id == cluster_id, Rollout.state.in_(ROLLOUT_ACTIVE_STATES)
    )
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def refuse_second(session: Session, cluster: Cluster) -> None:
    current = active(session, cluster.id)
    if current is not None:
        raise Conflict(
            f"cluster {cluster.name} already has rollout {current.id} ({current.state}); "
            f"wait for it, or abort it: bootsvc rollout abort {current.id}",
            rollout=current.id,
        )


def followers(
    session: Session, cluster: Cluster, default_image: str, match: Callable[[Target], bool]
) -> list[Follower]:
    """The cluster's active, unpinned nodes whose decision `match` accepts."""
    nodes = list(
        session.scalars(
            select(Node)
            .where(Node.cluster_id == cluster.id, Node.state == "active")
            .order_by(Node.hostname)
        )
    )
    facts = BatchFacts(session, [node.id for node in nodes])
    found = []
    for node in nodes:
        target = bootplan.decide(node, facts, default_image)
        if isinstance(target, Target) and target.source != "pinned" and match(target):
            found.append(Follower(node, target.version.id, target.baseline.id))
    return found


def _subject(rollout: Rollout) -> str:
    return f"rollout/{rollout.id}"


def _label(version: ImageVersion | None) -> str:
    return f"{version.image.name} {version.version}" if version else "(deleted version)"


def _members(session: Session, rollout: Rollout) -> list[RolloutMember]:
    """Read again, never from the session's memory: the caller holds the
    rollout's lock, and another transaction may have just changed them."""
    return list(
        session.scalars(
            select(RolloutMember)
            .where(RolloutMember.rollout_id == rollout.id)
            .order_by(RolloutMember.wave, RolloutMember.id)
            .execution_options(populate_existing=True)
        )
    )


def _lock(session: Session, rollout_id: int) -> Rollout:
    _refuse_impossible_id(rollout_id)
    found = session.scalar(
        select(Rollout)
        .where(Rollout.id == rollout_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise NotFound(f"rollout {rollout_id} does not exist")
    return found


def create(
    session: Session,
    cluster: Cluster,
    target: ImageVersion,
    found: Sequence[Follower],
    rules: Policy,
    actor: str,
    trigger: str,
    channel: str | None = None,
) -> Rollout:
    now = utcnow()
    there = boots.running(session, [f.node.id for f in found], target.id)
    todo = [
        f.node.hostname for f in found if f.from_version_id != target.id and f.node.id not in there
    ]
    planned = waves.plan(todo, rules.canary, rules.max_unavailable)
    rollout = Rollout(
        cluster_id=cluster.id,
        image_id=target.image_id,
        to_version_id=target.id,
        trigger=trigger,
        channel=channel,
        canary=rules.canary,
        max_unavailable=rules.max_unavailable,
        max_attempts=rules.max_attempts,
        health_timeout_s=rules.health_timeout_s,
        waves=waves.count(planned),
        wave=0,
        state=RUNNING,
        reason="",
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(rollout)
    for follower in found:
        wave = planned.get(follower.node.hostname, 0)
        rollout.members.append(
            RolloutMember(
                node_id=follower.node.id,
                wave=wave,
                from_version_id=follower.from_version_id,
                baseline_version_id=follower.baseline_version_id,
                state=PENDING if wave else HEALTHY,
                attempts=0,
                finished_at=None if wave else now,
                reason="" if wave else "already on the new version",
            )
        )
    session.flush()
    sources = sorted(
        {
            _label(session.get(ImageVersion, f.from_version_id))
            for f in found
            if f.from_version_id != target.id
        }
    )
    audit.record(
        session,
        actor,
        "rollout.start",
        _subject(rollout),
        from_value=", ".join(sources) or None,
        to_value=_label(target),
        cluster=cluster.name,
        trigger=trigger,
        channel=channel,
        canary=rules.canary,
        max_unavailable=rules.max_unavailable,
        waves=rollout.waves,
        nodes=len(found),
    )
    advance(session, rollout, now)
    return rollout


def start(
    session: Session,
    store: ArtifactStore,
    settings: Settings,
    image_name: str,
    version: str,
    cluster_name: str,
    actor: str,
    canary: int | None = None,
    max_unavailable: int | None = None,
) -> Rollout:
    """Roll VERSION out to the nodes of a cluster that boot IMAGE."""
    cluster = cmdb.get_cluster(session, cluster_name)
    target = catalog.get_version(session, image_name, version)
    missing = catalog.missing_artifacts(target, store)
    if missing:
        raise Conflict(
            f"{image_name} {version} cannot be rolled out: artifacts missing from the store: "
            + ", ".join(missing)
        )
    refuse_second(session, cluster)
    rules = policy(settings, cluster, canary, max_unavailable)
    check_quorum(session, cluster, rules.max_unavailable)
    found = followers(
        session,
        cluster,
        settings.default_image,
        lambda t: t.baseline.image_id == target.image_id,
    )
    if not found:
        raise Conflict(
            f"no active, unpinned node of cluster {cluster.name} boots image {image_name}; "
            "nothing to roll out"
        )
    return create(session, cluster, target, found, rules, actor, "start")


def _finish(session: Session, rollout: Rollout, state: str, reason: str, actor: str) -> None:
    now = utcnow()
    previous = rollout.state
    rollout.state, rollout.reason = state, reason
    rollout.updated_at = rollout.finished_at = now
    event(log, f"rollout.{state}", rollout=rollout.id, reason=reason)
    audit.record(
        session,
        actor,
        f"rollout.{'done' if state == DONE else 'abort'}",
        _subject(rollout),
        from_value=previous,
        to_value=state,
        reason=reason,
    )


def advance(session: Session, rollout: Rollout, now: datetime) -> None:
    """Start the next wave while the current one is over."""
    members = _members(session, rollout)
    while rollout.state == RUNNING:
        if any(m.wave == rollout.wave and m.state not in _SETTLED for m in members):
            return
        if rollout.wave >= rollout.waves:
            _finish(session, rollout, DONE, "every node reported healthy", SYSTEM)
            return
        rollout.wave += 1
        rollout.updated_at = now
        starting = [m for m in members if m.wave == rollout.wave]
        candidate = rollout.to_version_id
        there = (
            boots.running(session, [m.node_id for m in starting], candidate)
            if candidate is not None
            else set()
        )
        for member in starting:
            member.state, member.started_at = STARTED, now
            if member.node_id in there:
                member.state, member.finished_at = HEALTHY, now
                member.reason = "was already up on the new version"
        names = sorted(m.node.hostname for m in starting)
        event(log, "rollout.wave", rollout=rollout.id, wave=rollout.wave, nodes=",".join(names))
        audit.record(
            session,
            SYSTEM,
            "rollout.wave",
            _subject(rollout),
            to_value=f"wave {rollout.wave} of {rollout.waves}",
            nodes=names,
            canary=rollout.wave == 1 and rollout.canary > 0,
        )


def _halt(session: Session, rollout: Rollout, reason: str) -> None:
    if rollout.state not in {RUNNING, PAUSED}:
        return
    previous = rollout.state
    rollout.state, rollout.reason, rollout.updated_at = HALTED, reason, utcnow()
    event(log, "rollout.halt", level=logging.WARNING, rollout=rollout.id, reason=reason)
    audit.record(
        session, SYSTEM, "rollout.halt", _subject(rollout), previous, HALTED, reason=reason
    )


def _fail(
    session: Session, rollout: Rollout, member: RolloutMember, reason: str, now: datetime
) -> None:
    member.state, member.finished_at, member.reason = FAILED, now, reason
    hostname = member.node.hostname
    audit.record(
        session, SYSTEM, "rollout.node-failed", _subject(rollout), to_value=hostname, reason=reason
    )
    _halt(session, rollout, f"{hostname}: {reason}")


# Built once: every script and `up` report asks it.
_WATCHING = (
    select(RolloutMember.id, RolloutMember.rollout_id)
    .join(Rollout)
    .where(
        RolloutMember.node_id == bindparam("node_id"),
        RolloutMember.state.in_(bindparam("watched", expanding=True)),
        Rollout.state.in_(ROLLOUT_ACTIVE_STATES),
    )
)


def observe(session: Session, stage: str, boot: boots.Boot, now: datetime) -> None:
    """A boot report of a node that a rollout is moving; bootsvc's own
    refusal to boot the new version on it (its architecture, or an unsigned
    kernel for Secure Boot) fails the node as a failed boot would."""
    if stage not in {"script", "up", "failed", boots.REFUSED}:
        return
    # A healthy member still listens while its rollout is under way: a later
    # report may find the system unhealthy after all.
    watched = (STARTED, HEALTHY) if stage == "up" else (STARTED,)
    row = (
        session.connection()
        .execute(_WATCHING, {"node_id": boot.node_id, "watched": watched})
        .first()
    )
    if row is None:
        return
    rollout = _lock(session, row.rollout_id)
    member = session.get(RolloutMember, row.id, populate_existing=True)
    if member is None or member.state not in watched:
        return
    candidate = rollout.to_version_id
    where: dict[str, Any] = {"mac": boot.mac, "ip": boot.ip, "stage": stage, "rollout": rollout.id}
    if member.state == HEALTHY:
        if boot.version_id == candidate and boot.outcome != boots.UP:
            _fail(session, rollout, member, f"reported {boot.outcome} after all", now)
        return
    if stage == "script":
        if boot.version_id == candidate:
            member.attempts += 1
            member.booting_since = now
            event(log, "rollout.attempt", attempt=member.attempts, **where)
        elif boot.version_id == member.from_version_id and member.attempts >= rollout.max_attempts:
            why = f"{member.attempts} boots of the new version without a healthy report"
            _fail(session, rollout, member, why, now)
            event(log, "rollout.fallback", level=logging.WARNING, reason=why, **where)
        return
    if boot.version_id != candidate:
        return
    event(log, f"rollout.node-{boot.outcome}", **where)
    if boot.outcome == boots.UP:
        member.state, member.finished_at, member.reason = HEALTHY, now, ""
        audit.record(
            session,
            SYSTEM,
            "rollout.node-healthy",
            _subject(rollout),
            to_value=member.node.hostname,
            boot_s=boots.duration_s(boot.script_at, boot.up_at),
        )
        if rollout.state == RUNNING:
            advance(session, rollout, now)
    else:
        _fail(session, rollout, member, _why_failed(boot.outcome), now)


def _why_failed(outcome: str) -> str:
    if outcome == boots.REFUSED:
        return "bootsvc refused to boot the new version"
    return f"reported {outcome} on the new version"


def _depart(session: Session, rollout: Rollout, now: datetime, default_image: str) -> None:
    """Members the rollout no longer decides for (an admin pinned, moved,
    disabled or reassigned them) leave it, so that their wave can finish."""
    waiting = [m for m in _members(session, rollout) if m.state in {PENDING, STARTED}]
    if not waiting:
        return
    facts = BatchFacts(session, [m.node_id for m in waiting])
    for member in waiting:
        node = member.node
        target = bootplan.decide(node, facts, default_image)
        held = isinstance(target, Target) and target.rollout_id == rollout.id
        if held and node.cluster_id == rollout.cluster_id:
            continue
        member.state, member.finished_at = LEFT, now
        member.reason = "no longer follows this rollout's image"
        audit.record(
            session, SYSTEM, "rollout.node-left", _subject(rollout), to_value=node.hostname
        )


def tick(session: Session, default_image: str, now: datetime | None = None) -> list[int]:
    """Stop rollouts whose nodes took too long; start waves that are due.
    Returns the ids of the rollouts looked at."""
    now = now or utcnow()
    ids = list(session.scalars(select(Rollout.id).where(Rollout.state.in_([RUNNING, PAUSED]))))
    for rollout_id in ids:
        rollout = _lock(session, rollout_id)
        if rollout.state not in {RUNNING, PAUSED}:
            continue
        _depart(session, rollout, now, default_image)
        limit = timedelta(seconds=rollout.health_timeout_s)
        for member in _members(session, rollout):
            late = member.booting_since is not None and now - member.booting_since >= limit
            if member.state == STARTED and late:
                why = f"no healthy report within {rollout.health_timeout_s} s of its boot"
                _fail(session, rollout, member, why, now)
        if rollout.state == RUNNING:
            advance(session, rollout, now)
    return ids


def _refuse_impossible_id(rollout_id: int) -> None:
    """Ids are 32-bit: a larger one names nothing, and PostgreSQL refuses to
    compare an integer column with it rather than finding no row."""
    if not 0 < rollout_id < 2**31:
        raise NotFound(f"rollout {rollout_id} does not exist")


def get(session: Session, rollout_id: int) -> Rollout:
    _refuse_impossible_id(rollout_id)
    found = session.get(Rollout, rollout_id)
    if found is None:
        raise NotFound(f"rollout {rollout_id} does not exist")
    return found


def current(session: Session, cluster_name: str) -> Rollout:
    cluster = cmdb.get_cluster(session, cluster_name)
    found = active(session, cluster.id)
    if found is None:
        raise NotFound(f"cluster {cluster_name!r} has no rollout under way")
    return found


def list_rollouts(
    session: Session, cluster_name: str | None = None, limit: int = 50
) -> list[Rollout]:
    query = select(Rollout).order_by(Rollout.id.desc()).limit(limit)
    if cluster_name:
        query = query.where(Rollout.cluster_id == cmdb.get_cluster(session, cluster_name).id)
    return list(session.scalars(query))


def _refuse(rollout: Rollout, verb: str, allowed: set[str]) -> None:
    if rollout.state not in allowed:
        raise Conflict(f"rollout {rollout.id} is {rollout.state}; it cannot be {verb}")


def pause(session: Session, rollout_id: int, actor: str) -> Rollout:
    """Start no further wave; the nodes already moving carry on."""
    rollout = _lock(session, rollout_id)
    _refuse(rollout, "paused", {RUNNING})
    rollout.state, rollout.updated_at = PAUSED, utcnow()
    audit.record(session, actor, "rollout.pause", _subject(rollout), RUNNING, PAUSED)
    return rollout


def resume(session: Session, rollout_id: int, actor: str) -> Rollout:
    """Carry on after a pause; after a halt, give the failed nodes the new
    version again (the admin has dealt with the cause) before going on."""
    rollout = _lock(session, rollout_id)
    _refuse(rollout, "resumed", {PAUSED, HALTED})
    now = utcnow()
    retried = []
    for member in _members(session, rollout):
        if member.state == FAILED:
            member.state, member.attempts, member.reason = STARTED, 0, ""
            member.started_at, member.booting_since, member.finished_at = now, None, None
            retried.append(member.node.hostname)
    previous = rollout.state
    rollout.state, rollout.reason, rollout.updated_at = RUNNING, "", now
    audit.record(
        session, actor, "rollout.resume", _subject(rollout), previous, RUNNING, retried=retried
    )
    advance(session, rollout, now)
    return rollout


def abort(session: Session, rollout_id: int, actor: str, reason: str = "") -> Rollout:
    """Stop for good: every node boots its old version again (each reboots
    when its agent gets a slot)."""
    rollout = _lock(session, rollout_id)
    _refuse(rollout, "aborted", set(ROLLOUT_ACTIVE_STATES))
    _finish(session, rollout, ABORTED, reason or f"aborted by {actor}", actor)
    return rollout
