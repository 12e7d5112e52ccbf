"""The boot file URL (option 59) a DHCPv6 client gets, naming this server by
its IPv6 address: the same first stage as over IPv4 (bootsvc.core.dhcp.loaders
decides which), written as a URL because DHCPv6 has no file field. UEFI
PXEv6 gets `tftp://[addr]/loader`, UEFI HTTP Boot `http://[addr]:port/ipxe/
loader` and vendor class "HTTPClient" (option 16), iPXE `.../boot.ipxe`.
Legacy BIOS PXE has no IPv6 and gets nothing."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from urllib.parse import urlsplit

from bootsvc.core.dhcp.loaders import Loaders, loader_for
from bootsvc.net.dhcp.classify import Client, Firmware
from bootsvc.net.dhcp6 import options as opt
from bootsvc.settings import Settings, parse_host_port

HTTP_CLIENT = opt.pack_vendor_class(opt.PXE_ENTERPRISE, [b"HTTPClient"])


def http_base(settings: Settings, server_address: str) -> str:
    """The advertised URL when it names an IPv6 host, else this server's
    address on the DHCPv6 link with the HTTP port."""
    advertised = urlsplit(settings.advertise_url).hostname if settings.advertise_url else None
    if advertised:
        try:
            if ipaddress.ip_address(advertised).version == 6:
                return settings.advertise_url.rstrip("/")
        except ValueError:
            pass
    port = parse_host_port(settings.http_listen)[1]
    return f"http://[{server_address}]:{port}"


def boot_options(
    client: Client, loaders: Loaders, secure_boot: bool, server_address: str, base_url: str
) -> list[tuple[int, bytes]]:
    """Options 59 (and 16 for HTTP Boot); none for a client we have no
    loader for, or that does not boot from the network."""
    if client.firmware is Firmware.BIOS:
        return []
    boot = loader_for(client, replace(loaders, base_url=base_url), secure_boot)
    if boot is None:
        return []
    url = boot.name if "://" in boot.name else f"tftp://[{server_address}]/{boot.name}"
    found = [(opt.BOOTFILE_URL, url.encode())]
    if boot.vendor_class:
        found.append((opt.VENDOR_CLASS, HTTP_CLIENT))
    return found
