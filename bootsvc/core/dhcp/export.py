"""`bootsvc dhcp export`: host reservations and boot options for a site that
keeps its own DHCP server (dhcp_mode off), written from templates/dhcp/ for
Kea, dnsmasq or ISC dhcpd. The same decisions as bootsvc's own server: the
CMDB's node addresses and host names, the settings' and clusters' subnets,
and a first-stage loader per firmware (bootsvc.core.dhcp.loaders)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from urllib.parse import urlsplit

from bootsvc.core import render
from bootsvc.core.boot.secureboot import SHIM_ARM64
from bootsvc.core.dhcp.directory import Directory
from bootsvc.core.dhcp.loaders import BIOS_LOADER
from bootsvc.core.dhcp.networks import Network
from bootsvc.errors import InvalidInput
from bootsvc.settings import Settings

TEMPLATES = {
    "kea": "dhcp/kea.json.j2",
    "dnsmasq": "dhcp/dnsmasq.conf.j2",
    "isc": "dhcp/dhcpd.conf.j2",
}


@dataclass(frozen=True)
class Host:
    mac: str
    ip: str
    hostname: str
    domain: str | None


def _next_server(settings: Settings) -> str:
    if settings.dhcp_next_server:
        return settings.dhcp_next_server
    host = urlsplit(settings.base_url).hostname or ""
    try:
        return str(IPv4Address(host))
    except ValueError:
        raise InvalidInput(
            f"the TFTP server address is not known: base URL host {host!r} is not an IPv4 "
            "address; set dhcp_next_server"
        ) from None


def _hosts(directory: Directory, networks: list[Network]) -> list[Host]:
    hosts = [
        Host(mac, known.ip, known.hostname, known.domain)
        for mac, known in directory.nodes.items()
        if known.ip and any(network.contains(known.ip) for network in networks)
    ]
    return sorted(hosts, key=lambda host: host.hostname)


def export(directory: Directory, settings: Settings, fmt: str) -> str:
    """The configuration text for `fmt` (kea, dnsmasq or isc)."""
    if fmt not in TEMPLATES:
        raise InvalidInput(f"unknown format {fmt!r}: choose kea, dnsmasq or isc")
    directory.refresh()
    networks = directory.networks
    if not networks:
        raise InvalidInput("no subnet to export: set dhcp_subnet or give a cluster a network")
    base_url = settings.base_url
    context = {
        "networks": networks,
        "hosts": _hosts(directory, networks),
        "next_server": _next_server(settings),
        "bios_loader": BIOS_LOADER,
        "uefi_loader": settings.uefi_loader,
        "ipxe_url": f"{base_url}/boot.ipxe",
        "http_url": f"{base_url}/ipxe/{settings.uefi_loader}",
        "arm64_loader": SHIM_ARM64,
        "arm64_http_url": f"{base_url}/ipxe/{SHIM_ARM64}",
    }
    return render.render(settings.template_dir, TEMPLATES[fmt], context)
