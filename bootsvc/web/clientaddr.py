"""The client's address as every handler, lease check and log line sees it:
gunicorn listening on [::] (dual stack) reports an IPv4 client as
::ffff:a.b.c.d, which is no address bootsvc leased or the CMDB lists."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bootsvc.net.family import unmapped

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class UnmappedClients:
    """WSGI middleware: REMOTE_ADDR without the IPv4-mapped prefix."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        remote = environ.get("REMOTE_ADDR")
        if remote:
            environ["REMOTE_ADDR"] = unmapped(remote)
        return self.app(environ, start_response)
