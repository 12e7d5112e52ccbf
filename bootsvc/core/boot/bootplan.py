"""The one place that decides what a machine boots.

node -> assignment: its pinned version; else the image@channel set on the
node itself, on one of its roles in its cluster, or on its cluster; else the
default image. Then the cluster's rollout, if one holds the node: before the
node's wave it keeps the version the node had; from its wave on, the
candidate; after the candidate failed on it (or the rollout was aborted), the
old version again. Then version -> files.

`decide` makes that decision once, over facts it asks a `Facts` object for:
`SessionFacts` looks them up one query at a time for a booting node; the fleet
views load them for every node at once (bootsvc.core.boot.fleetfacts). The iPXE
script, the agent's desired version, `node show` and `fleet status` all come
from here; none re-derives it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.orm import Session, aliased

from bootsvc.core.catalog.catalog import INITRD, KERNEL, ROOTFS
from bootsvc.store.models import (
    Channel,
    Image,
    ImageAssignment,
    ImageVersion,
    Rollout,
    RolloutMember,
)


@dataclass(frozen=True)
class BootFile:
    role: str
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class BootPlan:
    image: str
    version: str
    version_id: int
    kernel: BootFile
    initrds: tuple[BootFile, ...]
    rootfs: BootFile | None
    cmdline_template: str
    reason: str
    source: str = ""
    rollout_id: int | None = None
    kernel_signed: bool | None = None
    architecture: str | None = None


@dataclass(frozen=True)
class NoBoot:
    """The node exits to its next boot device; `reason` says why, and
    `version_id` names the version it was refused, if one was chosen."""

    reason: str
    version_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class VersionRef:
    id: int
    imported_at: datetime
    image_id: int
    image: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.image} {self.version}"


@dataclass(frozen=True)
class Membership:
    """A node's place in the newest rollout that included it."""

    rollout_id: int
    rollout_state: str
    image_id: int
    current_wave: int
    wave: int
    state: str
    attempts: int
    max_attempts: int
    to_version_id: int | None
    from_version_id: int | None
    baseline_version_id: int | None


@dataclass(frozen=True)
class Target:
    """What a node should boot and why. `baseline` is what its assignment
    alone gives and `channel` the image@channel that assignment follows
    (None when pinned), so views can tell "behind its channel" from "held
    back by a rollout"."""

    version: VersionRef
    source: str
    reason: str
    baseline: VersionRef
    channel: str | None
    rollout_id: int | None = None


ImageKey = int | str
# role -> (image id, channel); the role "" stands for the whole cluster.
Assignments = Mapping[str, tuple[int, str]]


class PlannedNode(Protocol):
    """What the decision reads of a node: a `Node`, or the fleet views' rows
    of just these columns."""

    @property
    def id(self) -> int: ...
    @property
    def hostname(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def pinned_version_id(self) -> int | None: ...
    @property
    def image_id(self) -> int | None: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def cluster_id(self) -> int | None: ...
    @property
    def roles(self) -> list[str]: ...


class Facts(Protocol):
    def version(self, version_id: int) -> VersionRef | None: ...

    def channel(self, image: ImageKey, channel: str) -> VersionRef | None: ...

    def image_name(self, image: ImageKey) -> str: ...

    def assignments(self, cluster_id: int) -> Assignments: ...

    def membership(self, node_id: int) -> Membership | None: ...


def _follow(facts: Facts, image: ImageKey, channel: str, source: str, why: str) -> Target | NoBoot:
    found = facts.channel(image, channel)
    name = found.image if found else facts.image_name(image)
    if found is None:
        return NoBoot(f"{why}: channel {name}@{channel} points at no version")
    followed = f"{name}@{channel}"
    return Target(found, source, f"{why}: {followed}", found, followed)


def _default(facts: Facts, default_image: str, why: str) -> Target | NoBoot:
    image, channel = default_image.split("@", 1)
    return _follow(facts, image, channel, "default", why)


def assignment(node: PlannedNode, facts: Facts, default_image: str) -> Target | NoBoot:
    """What the node's assignment gives, before any rollout."""
    if node.state == "disabled":
        return NoBoot("node is disabled")
    if node.state == "new":
        if default_image:
            return _default(facts, default_image, "new node, default image")
        return NoBoot("node is new and waits for an admin: bootsvc node accept " + node.hostname)
    if node.pinned_version_id is not None:
        pinned = facts.version(node.pinned_version_id)
        if pinned is not None:
            return Target(pinned, "pinned", "pinned", pinned, None)
    if node.image_id is not None and node.channel:
        return _follow(facts, node.image_id, node.channel, "node", "follows")
    if node.cluster_id is not None:
        given = facts.assignments(node.cluster_id)
        for role in sorted(node.roles):
            if role in given:
                image_id, channel = given[role]
                why = f"role {role} of its cluster follows"
                return _follow(facts, image_id, channel, "role", why)
        if "" in given:
            image_id, channel = given[""]
            return _follow(facts, image_id, channel, "cluster", "its cluster follows")
    if default_image:
        return _default(facts, default_image, "no assignment, default image")
    return NoBoot("node has no image assignment and no default image is set")


def _held(base: Target, member: Membership, facts: Facts) -> Target:
    """The rollout's word for a node it holds."""
    to = facts.version(member.to_version_id) if member.to_version_id is not None else None
    old = facts.version(member.from_version_id) if member.from_version_id is not None else None
    rollout = f"rollout {member.rollout_id}"
    state = member.state
    if member.rollout_state == "aborted":
        version, source, why = old, "reverted", f"{rollout} was aborted: back to the old version"
    elif state == "healthy" and to is not None:
        version, source, why = to, "rollout", f"{rollout} moved it to {to.label}"
    elif state == "started" and member.attempts >= member.max_attempts:
        version, source = old, "fallback"
        why = (
            f"{rollout}: {member.attempts} boots of the candidate without a healthy report; "
            "falls back to the old version"
        )
    elif state == "started":
        version, source = to, "rollout"
        why = f"{rollout}, wave {member.wave}: candidate"
    elif state == "failed":
        version, source, why = old, "fallback", f"{rollout}: the candidate failed here"
    else:
        version, source = old, "held"
        why = (
            f"{rollout} holds it at its old version until wave {member.wave} "
            f"(now at wave {member.current_wave})"
        )
    if version is None:
        return base
    return Target(version, source, why, base.baseline, base.channel, member.rollout_id)


def decide(node: PlannedNode, facts: Facts, default_image: str) -> Target | NoBoot:
    base = assignment(node, facts, default_image)
    # Rollouts move the nodes of a cluster; a pinned node stays put.
    if isinstance(base, NoBoot) or base.source == "pinned" or node.cluster_id is None:
        return base
    if node.state != "active":
        return base
    member = facts.membership(node.id)
    if (
        member is None
        or member.image_id != base.version.image_id
        or member.baseline_version_id != base.baseline.id
    ):
        return base
    return _held(base, member, facts)


def plan_of_version(version: ImageVersion, reason: str) -> BootPlan:
    files = [BootFile(f.role, f.name, f.sha256, f.artifact.size) for f in version.files]
    return BootPlan(
        image=version.image.name,
        version=version.version,
        version_id=version.id,
        kernel=next(f for f in files if f.role == KERNEL),
        initrds=tuple(f for f in files if f.role == INITRD),
        rootfs=next((f for f in files if f.role == ROOTFS), None),
        cmdline_template=version.cmdline,
        reason=reason,
        kernel_signed=version.kernel_signed,
        architecture=version.architecture,
    )


# A version never changes once imported, so its plan is cached by its id and
# import time (an id that SQLite reuses after a delete comes with a new time).
_PLANS: dict[tuple[int, datetime], BootPlan] = {}
_PLANS_MAX = 1024


def _plan(session: Session, version_id: int, imported_at: datetime) -> BootPlan:
    key = (version_id, imported_at)
    plan = _PLANS.get(key)
    if plan is None:
        version = session.get(ImageVersion, version_id)
        if version is None:
            raise LookupError(f"version {version_id} vanished")
        plan = plan_of_version(version, "")
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


_VERSION_COLUMNS = (
    ImageVersion.id,
    ImageVersion.imported_at,
    ImageVersion.image_id,
    Image.name,
    ImageVersion.version,
)


def version_ref(row: Row[*tuple[Any, ...]]) -> VersionRef:
    return VersionRef(row[0], row[1], row[2], row[3], row[4])


def membership_query() -> Select[*tuple[Any, ...]]:
    """Each node's newest rollout membership: the rollout with the highest id."""
    newest = aliased(RolloutMember)
    later = select(newest.id).where(
        newest.node_id == RolloutMember.node_id, newest.rollout_id > RolloutMember.rollout_id
    )
    return (
        select(
            RolloutMember.node_id,
            RolloutMember.rollout_id,
            Rollout.state,
            Rollout.image_id,
            Rollout.wave,
            RolloutMember.wave,
            RolloutMember.state,
            RolloutMember.attempts,
            Rollout.max_attempts,
            Rollout.to_version_id,
            RolloutMember.from_version_id,
            RolloutMember.baseline_version_id,
        )
        .join(Rollout, Rollout.id == RolloutMember.rollout_id)
        .where(~later.exists())
    )


# Built once: building a statement costs more than running it on the boot path.
_VERSION = select(*_VERSION_COLUMNS).join(Image).where(ImageVersion.id == bindparam("version"))
_CHANNEL = (
    select(*_VERSION_COLUMNS)
    .join(Image, Image.id == ImageVersion.image_id)
    .join(Channel, Channel.version_id == ImageVersion.id)
    .where(Channel.name == bindparam("channel"), Channel.image_id == Image.id)
)
_CHANNEL_BY_ID = _CHANNEL.where(Image.id == bindparam("image"))
_CHANNEL_BY_NAME = _CHANNEL.where(Image.name == bindparam("image"))
_IMAGE_NAME = select(Image.name).where(Image.id == bindparam("image"))
_ASSIGNMENTS = select(
    ImageAssignment.role, ImageAssignment.image_id, ImageAssignment.channel
).where(ImageAssignment.cluster_id == bindparam("cluster"))
_MEMBERSHIP = membership_query().where(RolloutMember.node_id == bindparam("node"))


class SessionFacts:
    """Facts for one node, a query each, as its boot needs them: prebuilt
    statements, run on the session's connection (they read, so nothing
    pending need be flushed first)."""

    def __init__(self, session: Session) -> None:
        self.reading = session.connection()

    def _one(self, query: Select[*tuple[Any, ...]], **params: Any) -> VersionRef | None:
        row = self.reading.execute(query, params).first()
        return version_ref(row) if row is not None else None

    def version(self, version_id: int) -> VersionRef | None:
        return self._one(_VERSION, version=version_id)

    def channel(self, image: ImageKey, channel: str) -> VersionRef | None:
        query = _CHANNEL_BY_ID if isinstance(image, int) else _CHANNEL_BY_NAME
        return self._one(query, image=image, channel=channel)

    def image_name(self, image: ImageKey) -> str:
        if isinstance(image, str):
            return image
        return self.reading.scalar(_IMAGE_NAME, {"image": image}) or str(image)

    def assignments(self, cluster_id: int) -> Assignments:
        rows = self.reading.execute(_ASSIGNMENTS, {"cluster": cluster_id})
        return {role: (image_id, channel) for role, image_id, channel in rows}

    def membership(self, node_id: int) -> Membership | None:
        row = self.reading.execute(_MEMBERSHIP, {"node": node_id}).first()
        return membership(row) if row is not None else None


def membership(row: Sequence[Any]) -> Membership:
    return Membership(
        rollout_id=row[1],
        rollout_state=row[2],
        image_id=row[3],
        current_wave=row[4],
        wave=row[5],
        state=row[6],
        attempts=row[7],
        max_attempts=row[8],
        to_version_id=row[9],
        from_version_id=row[10],
        baseline_version_id=row[11],
    )


def resolve(session: Session, node: PlannedNode, default_image: str) -> BootPlan | NoBoot:
    target = decide(node, SessionFacts(session), default_image)
    if isinstance(target, NoBoot):
        return target
    plan = _plan(session, target.version.id, target.version.imported_at)
    return replace(plan, reason=target.reason, source=target.source, rollout_id=target.rollout_id)
