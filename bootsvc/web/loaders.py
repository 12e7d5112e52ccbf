"""The iPXE loaders over HTTP, for UEFI HTTP Boot: the firmware is handed
{base_url}/ipxe/snponly.efi (or ipxe.efi) and sends HEAD, then GET. The files
come from `loader_dir`, the same directory TFTP serves them from, resolved the
same way (nothing outside it, not even through a symlink, but for the
installation's own links by the loaders' names). The Secure Boot path's
shimx64.efi and grubx64.efi are served here too: shim fetches GRUB from its
own directory."""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any

from flask import Blueprint, Response, request

from bootsvc.core.boot.secureboot import signed_loaders
from bootsvc.errors import NotFound
from bootsvc.logs import event
from bootsvc.net.link import neighbour_mac
from bootsvc.safepath import OutsideRoot, resolve_within
from bootsvc.settings import LOADERS
from bootsvc.web.context import services
from bootsvc.web.sendfile import send_slice

log = logging.getLogger("bootsvc.http")
blueprint = Blueprint("loaders", __name__)

# edk2 takes application/efi as an EFI image whatever the URL looks like.
_TYPES = {".efi": "application/efi"}


def _logged(name: str, status: int, level: int = logging.INFO, **fields: Any) -> None:
    ip = request.remote_addr
    mac = neighbour_mac(ip) if ip else None
    event(
        log,
        "http.loader",
        level,
        mac=mac,
        ip=ip,
        stage="loader",
        file=name,
        status=status,
        **fields,
    )


@blueprint.route("/ipxe/<path:name>", methods=["GET", "HEAD"])
def loader(name: str) -> Response:
    settings = services().settings
    try:
        path = signed_loaders(settings).get(name) or resolve_within(
            settings.loader_dir, name, LOADERS
        )
        size = path.stat().st_size
    except (OutsideRoot, FileNotFoundError):
        _logged(name, 404, logging.WARNING)
        raise NotFound("no such loader") from None
    headers = {
        "Content-Length": str(size),
        # By the served name: a signed loader's file is NAME.efi.signed.
        "Content-Type": _TYPES.get(PurePosixPath(name).suffix, "application/octet-stream"),
        "Cache-Control": "no-cache",
    }
    _logged(name, 200, bytes=size, method=request.method)
    if request.method == "HEAD":
        return Response(status=200, headers=headers)
    return send_slice(path, 0, size, 200, headers)
