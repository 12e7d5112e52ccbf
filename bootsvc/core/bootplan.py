"""The one place that decides what a machine boots.

node -> assignment (pinned version, or image@channel, or the default image)
-> version -> files. The iPXE script, the reports and the fleet views ask
here; none of them re-derives it.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _channel_version(session: Session, image: str, channel: str) -> ImageVersion | None:
    return session.scalar(
        select(ImageVersion)
        .join(Channel, Channel.version_id == ImageVersion.id)
        .join(Image, Image.id == Channel.image_id)
        .where(Image.name == image, Channel.name == channel)
    )


def _follow(session: Session, image: str, channel: str, why: str) -> BootPlan | NoBoot:
    version = _channel_version(session, image, channel)
    if version is None:
        return NoBoot(f"{why}: channel {image}@{channel} points at no version")
    return plan_of_version(version, f"{why}: {image}@{channel}")


def _default(session: Session, default_image: str, why: str) -> BootPlan | NoBoot:
    image, channel = default_image.split("@", 1)
    return _follow(session, image, channel, why)


def resolve(session: Session, node: Node, default_image: str) -> BootPlan | NoBoot:
    if node.state == "disabled":
        return NoBoot("node is disabled")
    if node.state == "new":
        if default_image:
            return _default(session, default_image, "new node, default image")
        return NoBoot("node is new and waits for an admin: bootsvc node accept " + node.hostname)
    if node.pinned_version is not None:
        return plan_of_version(node.pinned_version, "pinned")
    if node.image is not None and node.channel:
        return _follow(session, node.image.name, node.channel, "follows")
    if default_image:
        return _default(session, default_image, "no assignment, default image")
    return NoBoot("node has no image assignment and no default image is set")
