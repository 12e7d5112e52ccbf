"""bootplan's facts for many nodes at once: the catalog's versions and
channels, the clusters' assignments and the nodes' rollout memberships, each
loaded with one query, so that deciding for a whole fleet costs a handful of
queries rather than several per node."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.core.boot.bootplan import (
    Assignments,
    ImageKey,
    Membership,
    VersionRef,
    membership,
    membership_query,
    version_ref,
)
from bootsvc.store.models import Channel, Image, ImageAssignment, ImageVersion, RolloutMember


class BatchFacts:
    def __init__(self, session: Session, node_ids: Collection[int] | None = None) -> None:
        rows = session.execute(
            select(
                ImageVersion.id,
                ImageVersion.imported_at,
                ImageVersion.image_id,
                Image.name,
                ImageVersion.version,
            ).join(Image)
        )
        self.versions = {ref.id: ref for ref in map(version_ref, rows)}
        self.images = dict(session.execute(select(Image.id, Image.name)).all())
        self.channels: dict[tuple[int, str], VersionRef] = {}
        for image_id, name, version_id in session.execute(
            select(Channel.image_id, Channel.name, Channel.version_id)
        ):
            self.channels[(image_id, name)] = self.versions[version_id]
        self.by_name = {name: image_id for image_id, name in self.images.items()}
        self.cluster_assignments: dict[int, dict[str, tuple[int, str]]] = {}
        for cluster_id, role, image_id, channel in session.execute(
            select(
                ImageAssignment.cluster_id,
                ImageAssignment.role,
                ImageAssignment.image_id,
                ImageAssignment.channel,
            )
        ):
            self.cluster_assignments.setdefault(cluster_id, {})[role] = (image_id, channel)
        query = membership_query()
        if node_ids is not None:
            query = query.where(RolloutMember.node_id.in_(list(node_ids)))
        self.members = {row[0]: membership(row) for row in session.execute(query)}

    def version(self, version_id: int) -> VersionRef | None:
        return self.versions.get(version_id)

    def channel(self, image: ImageKey, channel: str) -> VersionRef | None:
        image_id = image if isinstance(image, int) else self.by_name.get(image)
        if image_id is None:
            return None
        return self.channels.get((image_id, channel))

    def image_name(self, image: ImageKey) -> str:
        return image if isinstance(image, str) else self.images.get(image, str(image))

    def assignments(self, cluster_id: int) -> Assignments:
        return self.cluster_assignments.get(cluster_id, {})

    def membership(self, node_id: int) -> Membership | None:
        return self.members.get(node_id)
