"""image@channel above the node: for a whole cluster, or for the nodes of one
role in it. A node's own assignment (or pin) comes first; bootplan applies
them. Changing one takes effect at each node's next boot, like a node's own."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.core import audit
from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb import cmdb, names
from bootsvc.core.cmdb.records import parse_assignment
from bootsvc.errors import InvalidInput, NotFound
from bootsvc.store.models import Cluster, ImageAssignment
from bootsvc.store.types import utcnow


@dataclass(frozen=True)
class AssignmentRow:
    cluster: str
    role: str | None
    image: str
    channel: str


def _subject(cluster: Cluster, role: str) -> str:
    return f"cluster/{cluster.name}" + (f"/role/{role}" if role else "")


def _find(session: Session, cluster: Cluster, role: str) -> ImageAssignment | None:
    return session.scalar(
        select(ImageAssignment).where(
            ImageAssignment.cluster_id == cluster.id, ImageAssignment.role == role
        )
    )


def assign(
    session: Session, cluster_name: str, role: str | None, image_channel: str, actor: str
) -> bool:
    """Returns whether anything changed."""
    image_name, channel, version = parse_assignment(image_channel)
    if channel is None or version is not None:
        raise InvalidInput(f"{image_channel!r}: a cluster or role follows IMAGE@CHANNEL")
    cluster = cmdb.get_cluster(session, cluster_name)
    role_name = names.role(role) if role else ""
    try:
        image = catalog.get_image(session, image_name)
    except NotFound as exc:
        raise InvalidInput(exc.message) from None
    row = _find(session, cluster, role_name)
    before = f"{row.image.name}@{row.channel}" if row else None
    after = f"{image.name}@{channel}"
    if before == after:
        return False
    if row is None:
        row = ImageAssignment(cluster_id=cluster.id, role=role_name, updated_by=actor)
        session.add(row)
    row.image, row.channel = image, channel
    row.updated_at, row.updated_by = utcnow(), actor
    session.flush()
    audit.record(
        session,
        actor,
        "image.assign",
        _subject(cluster, role_name),
        from_value=before,
        to_value=after,
    )
    return True


def unassign(session: Session, cluster_name: str, role: str | None, actor: str) -> None:
    cluster = cmdb.get_cluster(session, cluster_name)
    role_name = names.role(role) if role else ""
    row = _find(session, cluster, role_name)
    if row is None:
        what = f"role {role_name} of cluster" if role_name else "cluster"
        raise NotFound(f"{what} {cluster.name!r} has no image assignment")
    before = f"{row.image.name}@{row.channel}"
    session.delete(row)
    audit.record(session, actor, "image.unassign", _subject(cluster, role_name), from_value=before)


def list_for(session: Session, cluster_name: str) -> list[AssignmentRow]:
    cluster = cmdb.get_cluster(session, cluster_name)
    rows = session.scalars(
        select(ImageAssignment)
        .where(ImageAssignment.cluster_id == cluster.id)
        .order_by(ImageAssignment.role)
    )
    return [
        AssignmentRow(cluster.name, row.role or None, row.image.name, row.channel) for row in rows
    ]
