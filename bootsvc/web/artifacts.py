"""Artifact downloads for firmware and booting nodes.

Kernels, initrds and squashfs roots are immutable (named by their sha256), so
they carry an ETag and immutable cache headers. Bodies go out through the
server's wsgi.file_wrapper (bootsvc.web.sendfile): the bytes never pass
through Python. Single byte ranges are answered with 206. A published
artifact this server lacks is fetched from a peer first (bootsvc.core.peers).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.datastructures import Range
from werkzeug.http import parse_range_header

from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb import names
from bootsvc.core.peers import fetch, registry
from bootsvc.errors import InvalidInput, NotFound
from bootsvc.logs import event
from bootsvc.store.models import Artifact
from bootsvc.web.context import services
from bootsvc.web.sendfile import send_slice

log = logging.getLogger("bootsvc.http")
blueprint = Blueprint("artifacts", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"


def _registered(sha256: str) -> bool:
    return services().db.read_statements(lambda reading: catalog.is_published(reading, sha256))


def _single_range(size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a satisfiable single range, or None for the
    whole file. Raises when the range cannot be satisfied."""
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range and if_range.strip('"') != request.view_args["sha256"]:  # type: ignore[index]
        return None
    parsed: Range | None = parse_range_header(header)
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    bounds = parsed.range_for_length(size)
    if bounds is None:
        raise _Unsatisfiable
    return bounds


def _from_peer(digest: str) -> bool:
    """Fetch a published artifact from a peer; never for a peer's own request."""
    if request.headers.get(fetch.PEER_HEADER):
        return False
    ctx = services()
    with ctx.db.read() as session:
        row = session.get(Artifact, digest)
        peers = registry.peers_for(
            session, digest, ctx.settings.base_url, ctx.settings.rollout_tick_s
        )
    if row is None or not peers:
        return False
    return fetch.fetch(ctx.store, digest, peers, row.size)


class _Unsatisfiable(Exception):
    pass


@blueprint.route("/artifacts/<sha256>/<name>", methods=["GET", "HEAD"])
def download(sha256: str, name: str) -> Response:
    try:
        digest = names.sha256(sha256)
        names.file_name(name)
    except InvalidInput:
        raise NotFound("no such artifact") from None
    ctx = services()
    path = ctx.store.path(digest)
    mac = request.args.get("mac")
    if not _registered(digest) or not (path.is_file() or _from_peer(digest)):
        event(
            log,
            "http.artifact",
            level=logging.WARNING,
            mac=mac,
            ip=request.remote_addr,
            stage="artifact",
            file=name,
            status=404,
        )
        raise NotFound("no such artifact")
    size = path.stat().st_size
    headers = {
        "ETag": f'"{digest}"',
        "Cache-Control": IMMUTABLE,
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
    }
    if request.if_none_match.contains(digest):
        return Response(status=304, headers=headers)
    try:
        bounds = _single_range(size)
    except _Unsatisfiable:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status=416, headers=headers)
    start, end = bounds or (0, size)
    status = 206 if bounds else 200
    if bounds:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    event(
        log,
        "http.artifact",
        mac=mac,
        ip=request.remote_addr,
        stage="artifact",
        file=name,
        status=status,
        bytes=end - start,
        method=request.method,
    )
    if request.method == "HEAD":
        return Response(status=status, headers=headers)
    return send_slice(path, start, end - start, status, headers)
