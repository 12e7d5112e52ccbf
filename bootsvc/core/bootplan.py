"""The one place that decides what a machine boots.

node -> assignment (pinned version, or image@channel, or the default image)
-> version -> files. The iPXE script, the reports and the fleet views ask
here; none of them re-derives it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.core.catalog import INITRD, KERNEL, ROOTFS
from bootsvc.store.models import Channel, Image, ImageVersion, Node


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


@dataclass(frozen=True)
class NoBoot:
    """The node exits to its next boot device; `reason` says why."""

    reason: str


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
    )


# A version never changes once imported, so its plan is cached by its id and
# import time (an id that SQLite reuses after a delete comes with a new time).
_PLANS: dict[tuple[int, datetime], BootPlan] = {}
_PLANS_MAX = 1024


def _plan(session: Session, version_id: int, imported_at: datetime, reason: str) -> BootPlan:
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
    return replace(plan, reason=reason)


def _follow(session: Session, image: Any, channel: str, why: str) -> BootPlan | NoBoot:
    """`image` is a column condition on Image, e.g. Image.id == 3."""
    target = session.execute(
        select(ImageVersion.id, ImageVersion.imported_at)
        .join(Channel, Channel.version_id == ImageVersion.id)
        .join(Image, Image.id == Channel.image_id)
        .where(image, Channel.name == channel)
    ).first()
    if target is None:
        name = session.scalar(select(Image.name).where(image))
        return NoBoot(f"{why}: channel {name}@{channel} points at no version")
    plan = _plan(session, target.id, target.imported_at, "")
    return replace(plan, reason=f"{why}: {plan.image}@{channel}")


def _default(session: Session, default_image: str, why: str) -> BootPlan | NoBoot:
    image, channel = default_image.split("@", 1)
    return _follow(session, Image.name == image, channel, why)


def resolve(session: Session, node: Node, default_image: str) -> BootPlan | NoBoot:
    if node.state == "disabled":
        return NoBoot("node is disabled")
    if node.state == "new":
        if default_image:
            return _default(session, default_image, "new node, default image")
        return NoBoot("node is new and waits for an admin: bootsvc node accept " + node.hostname)
    if node.pinned_version_id is not None:
        imported_at = session.scalar(
            select(ImageVersion.imported_at).where(ImageVersion.id == node.pinned_version_id)
        )
        if imported_at is not None:
            return _plan(session, node.pinned_version_id, imported_at, "pinned")
    if node.image_id is not None and node.channel:
        return _follow(session, Image.id == node.image_id, node.channel, "follows")
    if default_image:
        return _default(session, default_image, "no assignment, default image")
    return NoBoot("node has no image assignment and no default image is set")
