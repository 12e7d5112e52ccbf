"""The address nodes reach this server at, found once when a process starts:
settings only parse, the runtime looks at the host's interfaces."""

from __future__ import annotations

from bootsvc.net.iface import primary_ipv4
from bootsvc.settings import WILDCARD_HOSTS, Settings


def with_advertise_url(settings: Settings) -> Settings:
    """`settings` with `advertise_url` set from the DHCP interface (or the
    first interface that is not loopback) when HTTP listens on a wildcard."""
    host, port = settings.http_address
    if settings.advertise_url or host not in WILDCARD_HOSTS:
        return settings
    found = primary_ipv4(settings.dhcp_interface or None) or "127.0.0.1"
    return settings.model_copy(update={"advertise_url": f"http://{found}:{port}"})
