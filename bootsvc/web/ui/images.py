"""Images, their versions and channels; promotion and rollback, each after a
confirmation that says what moves and how many nodes follow."""

from __future__ import annotations

from collections import Counter

from flask import Response, request, url_for

from bootsvc.core.boot import fleet
from bootsvc.core.catalog import catalog, releases
from bootsvc.core.cmdb import names
from bootsvc.core.cmdb.records import parse
from bootsvc.core.views.objects import image_view, version_view
from bootsvc.errors import InvalidInput
from bootsvc.web.api.images import PromoteBody
from bootsvc.web.auth import actor
from bootsvc.web.context import services
from bootsvc.web.ui.blueprint import blueprint
from bootsvc.web.ui.login import notify, require
from bootsvc.web.ui.page import go, page


@blueprint.get("/images")
def images_page() -> Response:
    with services().db.read() as session:
        images = [image_view(i) for i in catalog.list_images(session)]
    return page("images.html", images=images)


@blueprint.get("/images/<image>")
def image_page(image: str) -> Response:
    with services().db.read() as session:
        found = catalog.get_image(session, image)
        view = image_view(found)
        versions = [version_view(v) for v in reversed(found.versions)]
    return page("image.html", image=view, versions=versions)


def _channel() -> str:
    channel = request.values.get("channel", "").strip()
    if not channel:
        raise InvalidInput("name a channel")
    return names.object_name(channel, "channel")


def _followers(image: str, channel: str) -> list[str]:
    """Who follows IMAGE@CHANNEL, in the words of the confirmation."""
    ctx = services()
    with ctx.db.read() as session:
        nodes = fleet.status(session, ctx.settings).nodes
    followed = f"{image}@{channel}"
    following = [n for n in nodes if n.channel == followed and n.state == "active"]
    clusters = Counter(n.cluster for n in following if n.cluster)
    lines = [f"{len(following)} active nodes follow {followed}."]
    for cluster, count in sorted(clusters.items()):
        lines.append(f"Cluster {cluster}: {count} nodes, moved by a rollout, wave by wave.")
    loose = sum(1 for n in following if not n.cluster)
    if loose:
        lines.append(f"{loose} nodes outside any cluster take it at their next boot.")
    return lines


@blueprint.get("/images/<image>/promote")
def promote_confirm(image: str) -> Response:
    require("admin")
    channel = _channel()
    version = request.args.get("version", "")
    with services().db.read() as session:
        target = catalog.get_version(session, image, version)
        current = catalog.get_channel(session, target.image, channel)
        now = current.version.version if current else None
    moving = f"from {now} to {version}" if now else f"to {version} (a new channel)"
    return page(
        "confirm.html",
        title=f"Promote {image} {version} to {channel}",
        question=f"Move {image}@{channel} {moving}.",
        details=_followers(image, channel),
        button="Promote",
        target=url_for("ui.promote_submit", image=image),
        fields={"channel": channel, "version": version},
        back=url_for("ui.image_page", image=image),
    )


@blueprint.post("/images/<image>/promote")
def promote_submit(image: str) -> Response:
    require("admin")
    ctx = services()
    channel = _channel()
    body = parse(PromoteBody, {"version": request.form.get("version", "")})
    with ctx.db.write() as session:
        release = releases.promote(
            session, ctx.store, ctx.settings, image, body.version, channel, actor()
        )
        started = [r.id for r in release.rollouts]
        moved = release.move.changed
    return _moved(image, channel, f"promoted {body.version}" if moved else "already there", started)


def _moved(image: str, channel: str, said: str, started: list[int]) -> Response:
    rollouts = ", ".join(str(n) for n in started)
    notify(f"{image}@{channel}: {said}" + (f"; rollouts started: {rollouts}" if started else ""))
    if len(started) == 1:
        return go(url_for("ui.rollout_page", rollout=started[0]))
    return go(url_for("ui.image_page", image=image))


@blueprint.get("/images/<image>/rollback")
def rollback_confirm(image: str) -> Response:
    require("admin")
    channel = _channel()
    with services().db.read() as session:
        current = catalog.get_channel(session, catalog.get_image(session, image), channel)
        now = current.version.version if current else "nothing"
    return page(
        "confirm.html",
        title=f"Roll back {image}@{channel}",
        question=f"Move {image}@{channel} back from {now} to the version it held before {now} "
        "was promoted; a rollout under way on a following cluster is aborted.",
        details=_followers(image, channel),
        button="Roll back",
        target=url_for("ui.rollback_submit", image=image),
        fields={"channel": channel},
        back=url_for("ui.image_page", image=image),
    )


@blueprint.post("/images/<image>/rollback")
def rollback_submit(image: str) -> Response:
    require("admin")
    ctx = services()
    channel = _channel()
    with ctx.db.write() as session:
        release = releases.rollback(session, ctx.settings, image, channel, actor())
        said = f"rolled back to {release.move.channel.version.version}"
        started = [r.id for r in release.rollouts]
    return _moved(image, channel, said, started)
