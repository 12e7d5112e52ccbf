"""The image catalog: images, versions, channels, promotion and rollback.

Functions take an open write Session; the caller owns the transaction, so an
operation and its audit entry commit together or not at all. `delete` alone
opens its own: blobs may go only once the deletion has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from bootsvc.core import audit
from bootsvc.core.catalog import cmdline, kernelarch, signature
from bootsvc.core.cmdb import names
from bootsvc.core.cmdb.records import BuildRecord
from bootsvc.errors import Conflict, InvalidInput, NotFound
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import (
    ROLLOUT_ACTIVE_STATES,
    Artifact,
    Channel,
    ChannelHistory,
    Cluster,
    Image,
    ImageAssignment,
    ImageVersion,
    Node,
    Rollout,
    RolloutMember,
    VersionFile,
)
from bootsvc.store.types import utcnow

KERNEL, INITRD, ROOTFS = "kernel", "initrd", "rootfs"


@dataclass(frozen=True)
class FileRef:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ChannelMove:
    channel: Channel
    previous: ImageVersion | None
    changed: bool


def get_image(session: Session, name: str) -> Image:
    image = session.scalar(select(Image).where(Image.name == name))
    if image is None:
        raise NotFound(f"image {name!r} does not exist")
    return image


def list_images(session: Session) -> list[Image]:
    return list(session.scalars(select(Image).order_by(Image.name)))


def get_version(session: Session, image_name: str, version: str) -> ImageVersion:
    found = session.scalar(
        select(ImageVersion)
        .join(Image)
        .where(Image.name == image_name, ImageVersion.version == version)
    )
    if found is None:
        get_image(session, image_name)
        raise NotFound(f"image {image_name!r} has no version {version!r}")
    return found


def get_channel(session: Session, image: Image, name: str, lock: bool = False) -> Channel | None:
    query = select(Channel).where(Channel.image_id == image.id, Channel.name == name)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def _ensure_image(session: Session, name: str) -> Image:
    image = session.scalar(select(Image).where(Image.name == name))
    if image is None:
        image = Image(name=names.object_name(name, "image name"))
        session.add(image)
        session.flush()
    return image


@dataclass(frozen=True)
class KernelFacts:
    """What a kernel's own header says, read once at import: Secure Boot
    nodes boot only a signed kernel, and a machine only its architecture's."""

    signed: bool | None = None
    architecture: str | None = None

    @classmethod
    def read(cls, path: Path) -> KernelFacts:
        return cls(signature.is_signed(path), kernelarch.architecture(path))


def add_version(
    session: Session,
    image_name: str,
    version: str,
    kernel: FileRef,
    initrds: Sequence[FileRef],
    rootfs: FileRef | None,
    cmdline_template: str,
    notes: str,
    actor: str,
    build: BuildRecord | None = None,
    facts: KernelFacts | None = None,
) -> ImageVersion:
    """Register a version whose files are already in the artifact store,
    with what its build recorded when there is a record."""
    names.object_name(version, "version")
    if not initrds:
        raise InvalidInput("a version needs at least one initrd")
    cmdline.check(cmdline_template, rootfs is not None)
    files = [(KERNEL, 0, kernel)] + [(INITRD, i, ref) for i, ref in enumerate(initrds)]
    if rootfs is not None:
        files.append((ROOTFS, 0, rootfs))
    file_names = [names.file_name(ref.name) for _role, _pos, ref in files]
    if len(set(file_names)) != len(file_names):
        raise InvalidInput(f"file names must differ within a version: {file_names}")
    if build is not None:
        _check_build_sizes(build, [ref for _role, _pos, ref in files])
    image = _ensure_image(session, image_name)
    exists = session.scalar(
        select(ImageVersion.id).where(
            ImageVersion.image_id == image.id, ImageVersion.version == version
        )
    )
    if exists is not None:
        raise Conflict(f"image {image_name!r} already has a version {version!r}")
    for _role, _position, ref in files:
        register_artifact(session, ref.sha256, ref.size)
    row = ImageVersion(
        image=image,
        version=version,
        cmdline=cmdline_template,
        notes=notes,
        imported_by=actor,
        build=build.model_dump(mode="json") if build else None,
        kernel_signed=facts.signed if facts else None,
        architecture=facts.architecture if facts else None,
    )
    session.add(row)
    row.files.extend(
        VersionFile(role=role, position=position, name=ref.name, sha256=ref.sha256)
        for role, position, ref in files
    )
    session.flush()
    audit.record(
        session,
        actor,
        "version.import",
        f"image/{image_name}",
        to_value=version,
        files={ref.name: ref.sha256 for _role, _pos, ref in files},
    )
    return row


def _check_build_sizes(build: BuildRecord, files: Sequence[FileRef]) -> None:
    """The build's sizes must describe exactly these files: a record of some
    other build would mislead whoever reads it."""
    actual = {ref.name: ref.size for ref in files}
    for name in sorted(set(actual) | set(build.sizes)):
        if name not in build.sizes:
            raise InvalidInput(f"build.sizes: no size for {name}")
        if name not in actual:
            raise InvalidInput(f"build.sizes: {name} is not a file of this version")
        if build.sizes[name] != actual[name]:
            raise InvalidInput(
                f"build.sizes: {name} has {actual[name]} bytes, the build recorded "
                f"{build.sizes[name]}"
            )


def register_artifact(session: Session, sha256: str, size: int) -> None:
    if session.get(Artifact, sha256) is None:
        session.add(Artifact(sha256=sha256, size=size))


# Built once: every artifact download asks it.
_USED = select(VersionFile.sha256).where(VersionFile.sha256 == bindparam("sha256")).limit(1)


def is_published(reading: Connection, sha256: str) -> bool:
    """Whether some image version uses this artifact: only those are served
    to nodes, never an upload no version refers to."""
    return reading.scalar(_USED, {"sha256": sha256}) is not None


def uploaded_ref(session: Session, store: ArtifactStore, sha256: str, name: str) -> FileRef:
    """A file of a new version, from an artifact uploaded earlier."""
    row = session.get(Artifact, sha256)
    if row is None or not store.has(sha256):
        raise InvalidInput(f"artifact {sha256} ({name}) has not been uploaded")
    return FileRef(name=name, sha256=sha256, size=row.size)


def missing_artifacts(version: ImageVersion, store: ArtifactStore) -> list[str]:
    return [f.name for f in version.files if not store.has(f.sha256)]


def promote(
    session: Session,
    store: ArtifactStore,
    image_name: str,
    version: str,
    channel_name: str,
    actor: str,
) -> ChannelMove:
    """Point a channel at a version; promoting the version it holds changes nothing."""
    names.object_name(channel_name, "channel")
    image = get_image(session, image_name)
    target = get_version(session, image_name, version)
    missing = missing_artifacts(target, store)
    if missing:
        raise Conflict(
            f"{image_name} {version} cannot be promoted: artifacts missing from the store: "
            + ", ".join(missing)
        )
    channel = get_channel(session, image, channel_name, lock=True)
    if channel is not None and channel.version_id == target.id:
        return ChannelMove(channel, channel.version, changed=False)
    previous = channel.version if channel is not None else None
    if channel is None:
        channel = Channel(image=image, name=channel_name, version=target, updated_by=actor)
        session.add(channel)
    else:
        channel.version = target
        channel.updated_at = utcnow()
        channel.updated_by = actor
    session.flush()
    session.add(
        ChannelHistory(
            channel_id=channel.id,
            action="promote",
            from_version_id=previous.id if previous else None,
            to_version_id=target.id,
            actor=actor,
        )
    )
    audit.record(
        session,
        actor,
        "channel.promote",
        f"image/{image_name}/channel/{channel_name}",
        from_value=previous.version if previous else None,
        to_value=version,
    )
    return ChannelMove(channel, previous, changed=True)


def rollback(session: Session, image_name: str, channel_name: str, actor: str) -> ChannelMove:
    """Move a channel back to the version it held before its current one was
    promoted. Repeated rollbacks walk further back through the promotions."""
    image = get_image(session, image_name)
    channel = get_channel(session, image, channel_name, lock=True)
    if channel is None:
        raise NotFound(f"image {image_name!r} has no channel {channel_name!r}")
    last = session.scalar(
        select(ChannelHistory)
        .where(
            ChannelHistory.channel_id == channel.id,
            ChannelHistory.action == "promote",
            ChannelHistory.to_version_id == channel.version_id,
        )
        .order_by(ChannelHistory.id.desc())
        .limit(1)
    )
    if last is None or last.from_version_id is None:
        raise Conflict(
            f"channel {image_name}@{channel_name} has no earlier version to roll back to"
        )
    current = channel.version
    target = session.get(ImageVersion, last.from_version_id)
    if target is None:
        raise Conflict(f"the version {image_name}@{channel_name} held before was deleted")

    channel.version = target
    channel.updated_at = utcnow()
    channel.updated_by = actor
    session.add(
        ChannelHistory(
            channel_id=channel.id,
            action="rollback",
            from_version_id=current.id,
            to_version_id=target.id,
            actor=actor,
        )
    )
    audit.record(
        session,
        actor,
        "channel.rollback",
        f"image/{image_name}/channel/{channel_name}",
        from_value=current.version,
        to_value=target.version,
    )
    return ChannelMove(channel, current, changed=True)


def _users_of_version(session: Session, version: ImageVersion) -> list[str]:
    users = [
        f"channel {c.name}"
        for c in session.scalars(select(Channel).where(Channel.version_id == version.id))
    ]
    pinned = list(
        session.scalars(
            select(Node.hostname)
            .where(Node.pinned_version_id == version.id)
            .order_by(Node.hostname)
            .limit(5)
        )
    )
    users += [f"node {hostname}" for hostname in pinned]
    users += [
        f"rollout {number}"
        for number in session.scalars(
            select(Rollout.id)
            .outerjoin(RolloutMember, RolloutMember.rollout_id == Rollout.id)
            .where(
                Rollout.state.in_(ROLLOUT_ACTIVE_STATES),
                (Rollout.to_version_id == version.id)
                | (RolloutMember.from_version_id == version.id),
            )
            .distinct()
        )
    ]
    return users


def _release_unused(session: Session, sha256s: set[str]) -> list[str]:
    """Drop artifact rows no version uses any more; the caller removes the
    blobs once the transaction has committed."""
    session.flush()
    still_used = set(
        session.scalars(select(VersionFile.sha256).where(VersionFile.sha256.in_(sha256s)))
    )
    released = sorted(sha256s - still_used)
    for sha in released:
        artifact = session.get(Artifact, sha)
        if artifact is not None:
            session.delete(artifact)
    return released


def delete_version(session: Session, image_name: str, version: str, actor: str) -> list[str]:
    """Delete a version nobody uses. Returns the digests of blobs to remove."""
    row = get_version(session, image_name, version)
    users = _users_of_version(session, row)
    if users:
        raise Conflict(
            f"{image_name} {version} is in use by {', '.join(users)}; nothing was deleted"
        )
    sha256s = {f.sha256 for f in row.files}
    session.delete(row)
    audit.record(session, actor, "version.delete", f"image/{image_name}", from_value=version)
    return _release_unused(session, sha256s)


def delete_image(session: Session, image_name: str, actor: str) -> list[str]:
    image = get_image(session, image_name)
    followers = list(
        session.scalars(
            select(Node.hostname).where(Node.image_id == image.id).order_by(Node.hostname).limit(5)
        )
    )
    if followers:
        raise Conflict(
            f"image {image_name!r} is assigned to node {', '.join(followers)}; nothing was deleted"
        )
    clusters = list(
        session.scalars(
            select(Cluster.name)
            .join(ImageAssignment, ImageAssignment.cluster_id == Cluster.id)
            .where(ImageAssignment.image_id == image.id)
            .distinct()
            .order_by(Cluster.name)
        )
    )
    if clusters:
        raise Conflict(
            f"image {image_name!r} is assigned to cluster {', '.join(clusters)}; "
            "nothing was deleted"
        )
    pinned = [
        f"node {hostname}"
        for version in image.versions
        for hostname in session.scalars(
            select(Node.hostname).where(Node.pinned_version_id == version.id)
        )
    ]
    if pinned:
        raise Conflict(
            f"image {image_name!r} has versions pinned by {', '.join(pinned[:5])}; "
            "nothing was deleted"
        )
    sha256s = {f.sha256 for version in image.versions for f in version.files}
    for channel in list(image.channels):
        session.delete(channel)
    session.flush()
    session.delete(image)
    audit.record(session, actor, "image.delete", f"image/{image_name}")
    return _release_unused(session, sha256s)


def delete(
    db: Database, store: ArtifactStore, image_name: str, version: str | None, actor: str
) -> list[str]:
    """Delete `version` of an image, or the whole image when it is None, and
    then its blobs nothing else uses: only after the deletion committed, so
    a refused or failed one removes nothing. Returns their digests."""
    with db.write() as session:
        if version is None:
            released = delete_image(session, image_name, actor)
        else:
            released = delete_version(session, image_name, version, actor)
    for sha256 in released:
        store.remove(sha256)
    return released
