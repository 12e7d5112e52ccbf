"""Images, versions and channels."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy.orm import Session

from bootsvc.core.catalog import catalog, releases
from bootsvc.core.cmdb.records import FileRecord, ObjectName, Record, VersionRecord
from bootsvc.core.views.objects import (
    ChannelMoveView,
    ChannelView,
    ImageView,
    VersionView,
    channel_move_view,
    channel_view,
    image_view,
    version_view,
)
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.auth import actor
from bootsvc.web.context import services


class PromoteBody(Record):
    version: ObjectName
    canary: int | None = Field(default=None, ge=0, description="Canary of each cluster's rollout")
    max_unavailable: int | None = Field(
        default=None, ge=1, description="Batch size of each cluster's rollout"
    )


def _uploaded(session: Session, store: ArtifactStore, file: FileRecord) -> catalog.FileRef:
    return catalog.uploaded_ref(session, store, file.sha256, file.name)


@registry.route(
    "GET", "/images", summary="List images", scope="read", responses={200: list[ImageView]}
)
def list_images() -> Reply:
    with services().db.read() as session:
        return Reply([image_view(image) for image in catalog.list_images(session)])


@registry.route(
    "GET", "/images/{image}", summary="Show an image", scope="read", responses={200: ImageView}
)
def show_image(image: str) -> Reply:
    with services().db.read() as session:
        return Reply(image_view(catalog.get_image(session, image)))


@registry.route(
    "DELETE",
    "/images/{image}",
    summary="Delete an image and all its versions, unless a node uses it",
    scope="admin",
    responses={204: None},
)
def delete_image(image: str) -> Reply:
    ctx = services()
    catalog.delete(ctx.db, ctx.store, image, None, actor())
    return Reply(status=204)


@registry.route(
    "GET",
    "/images/{image}/versions",
    summary="List the versions of an image",
    scope="read",
    responses={200: list[VersionView]},
)
def list_versions(image: str) -> Reply:
    with services().db.read() as session:
        return Reply([version_view(v) for v in catalog.get_image(session, image).versions])


@registry.route(
    "POST",
    "/images/{image}/versions",
    summary="Create a version from uploaded artifacts",
    scope="admin",
    body=VersionRecord,
    responses={201: VersionView},
)
def create_version(image: str, body: VersionRecord) -> Reply:
    ctx = services()
    with ctx.db.write() as session:
        kernel = _uploaded(session, ctx.store, body.kernel)
        row = catalog.add_version(
            session,
            image,
            body.version,
            kernel,
            [_uploaded(session, ctx.store, item) for item in body.initrds],
            _uploaded(session, ctx.store, body.rootfs) if body.rootfs else None,
            body.cmdline,
            body.notes,
            actor(),
            body.build,
            catalog.KernelFacts.read(ctx.store.path(kernel.sha256)),
        )
        return Reply(version_view(row), 201)


@registry.route(
    "GET",
    "/images/{image}/versions/{version}",
    summary="Show a version",
    scope="read",
    responses={200: VersionView},
)
def show_version(image: str, version: str) -> Reply:
    with services().db.read() as session:
        return Reply(version_view(catalog.get_version(session, image, version)))


@registry.route(
    "DELETE",
    "/images/{image}/versions/{version}",
    summary="Delete a version that no channel or pinned node uses",
    scope="admin",
    responses={204: None},
)
def delete_version(image: str, version: str) -> Reply:
    ctx = services()
    catalog.delete(ctx.db, ctx.store, image, version, actor())
    return Reply(status=204)


@registry.route(
    "GET",
    "/images/{image}/channels",
    summary="List the channels of an image",
    scope="read",
    responses={200: list[ChannelView]},
)
def list_channels(image: str) -> Reply:
    with services().db.read() as session:
        return Reply([channel_view(c) for c in catalog.get_image(session, image).channels])


@registry.route(
    "PUT",
    "/images/{image}/channels/{channel}",
    summary="Promote: point a channel at a version; each following cluster gets a rollout",
    scope="admin",
    body=PromoteBody,
    responses={200: ChannelMoveView},
)
def promote(image: str, channel: str, body: PromoteBody) -> Reply:
    ctx = services()
    with ctx.db.write() as session:
        release = releases.promote(
            session,
            ctx.store,
            ctx.settings,
            image,
            body.version,
            channel,
            actor(),
            body.canary,
            body.max_unavailable,
        )
        return Reply(release_view(release))


@registry.route(
    "POST",
    "/images/{image}/channels/{channel}/rollback",
    summary="Roll a channel back, and its following clusters with it",
    scope="admin",
    responses={200: ChannelMoveView},
)
def rollback(image: str, channel: str) -> Reply:
    ctx = services()
    with ctx.db.write() as session:
        release = releases.rollback(session, ctx.settings, image, channel, actor())
        return Reply(release_view(release))


def release_view(release: releases.Release) -> ChannelMoveView:
    view = channel_move_view(release.move)
    return view.model_copy(update={"rollouts": [r.id for r in release.rollouts]})
