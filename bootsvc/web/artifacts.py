"""Artifact downloads for firmware and booting nodes.

Kernels, initrds and squashfs roots are immutable (named by their sha256), so
they carry an ETag and immutable cache headers. Bodies go out through the
server's wsgi.file_wrapper, which gunicorn turns into os.sendfile: the bytes
never pass through Python. Single byte ranges are answered with 206.
"""

from __future__ import annotations

import io
import logging
import os
from typing import IO, Any, cast

from flask import Blueprint, Response, request
from sqlalchemy import exists, select
from werkzeug.datastructures import Range
from werkzeug.http import parse_range_header
from werkzeug.wsgi import wrap_file

from bootsvc.core import names
from bootsvc.errors import InvalidInput, NotFound
from bootsvc.logs import event
from bootsvc.store.models import VersionFile
from bootsvc.web.context import services

log = logging.getLogger("bootsvc.http")
blueprint = Blueprint("artifacts", __name__)

BLOCK = 1 << 20
IMMUTABLE = "public, max-age=31536000, immutable"


class FileSlice(io.RawIOBase):
    """`length` bytes of a file from `start`. The descriptor is left at
    `start`, where sendfile begins; read() stops at the end of the slice for
    servers that copy instead."""

    def __init__(self, path: str, start: int, length: int) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY)
        os.lseek(self._fd, start, os.SEEK_SET)
        self._left = length

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """socket.sendfile leaves the file at the end of what it sent."""
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        count = os.readv(self._fd, [view])
        self._left -= count
        return count

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def _registered(sha256: str) -> bool:
    with services().db.read() as session:
        return bool(session.scalar(select(exists().where(VersionFile.sha256 == sha256))))


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
    if not _registered(digest) or not path.is_file():
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
    # The server's file wrapper closes the slice when the response is done.
    piece = cast("IO[bytes]", FileSlice(str(path), start, end - start))
    body = wrap_file(request.environ, piece, BLOCK)
    return Response(body, status=status, headers=headers, direct_passthrough=True)
