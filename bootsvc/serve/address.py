"""The addresses nodes reach this server at, found once when a process
starts: settings only parse, the runtime looks at the host's interfaces."""

from __future__ import annotations

from bootsvc.net.iface import interface_ipv6, primary_ipv4
from bootsvc.settings import WILDCARD_HOSTS, Settings


def with_advertise_url(settings: Settings) -> Settings:
    """`settings` with `advertise_url` set from the DHCP interface (or the
    first interface that is not loopback) when HTTP listens on a wildcard,
    and `advertise_url6` from the DHCPv6 interface when it listens on ::."""
    host, port = settings.http_address
    found: dict[str, str] = {}
    if not settings.advertise_url and host in WILDCARD_HOSTS:
        address = primary_ipv4(settings.dhcp_interface or None) or "127.0.0.1"
        found["advertise_url"] = f"http://{address}:{port}"
    if not settings.base_url6 and host == "::" and settings.dhcp6_interface:
        address6 = interface_ipv6(settings.dhcp6_interface)
        if address6:
            found["advertise_url6"] = f"http://[{address6}]:{port}"
    return settings.model_copy(update=found) if found else settings
