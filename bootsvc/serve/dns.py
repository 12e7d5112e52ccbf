"""The DNS service process: the CMDB's zones (bootsvc.core) served by the
protocol server (bootsvc.net.dns), wired from the settings."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from urllib.parse import urlsplit

from bootsvc.core.dns.feed import CmdbZones
from bootsvc.core.dns.records import DnsSite
from bootsvc.net.dns import DnsServer, Forwarder, bind_sockets
from bootsvc.settings import Settings, parse_host_port, parse_upstream
from bootsvc.store.db import Database


def site_for(settings: Settings) -> DnsSite:
    url = urlsplit(settings.base_url)
    scheme = url.scheme or "http"
    return DnsSite(
        server=url.hostname or "127.0.0.1",
        http_port=url.port or (443 if scheme == "https" else 80),
        http_scheme=scheme,
        tftp_port=parse_host_port(settings.tftp_listen)[1] if settings.tftp_listen else None,
        dns_port=parse_host_port(settings.dns_listen)[1] if settings.dns_listen else None,
        ttl=settings.dns_ttl,
    )


def server_for(settings: Settings, db: Database) -> DnsServer:
    zones = CmdbZones(db, site_for(settings), settings.dns_refresh_ms / 1000)
    upstreams = [parse_upstream(item) for item in settings.dns_upstreams]
    udp, tcp = bind_sockets(*parse_host_port(settings.dns_listen))
    return DnsServer(
        zones,
        udp,
        tcp,
        forwarder=Forwarder(upstreams) if upstreams else None,
        forward_clients=[ipaddress.ip_network(item) for item in settings.dns_forward_clients],
    )


async def _serve(server: DnsServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await server.serve(stop)


def run(settings: Settings) -> None:
    """Serve DNS until SIGTERM."""
    db = Database(settings.effective_database_url, pool_size=2)
    try:
        asyncio.run(_serve(server_for(settings, db)))
    finally:
        db.dispose()
