"""Which IP family a client address is. A dual-stack socket (HTTP or TFTP
on ::) sees an IPv4 client as ::ffff:a.b.c.d: that client booted over IPv4,
and its leases, CMDB address and URLs are IPv4's."""

from __future__ import annotations

import ipaddress

V4_MAPPED = "::ffff:"


def unmapped(ip: str) -> str:
    """An IPv4-mapped IPv6 address as the IPv4 address it is; any other as given."""
    if ip[:7].lower() == V4_MAPPED and "." in ip:
        return ip[7:]
    return ip


def is_ipv6(ip: str | None) -> bool:
    """Whether a client at `ip` came over IPv6 (an IPv4-mapped one did not)."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip.partition("%")[0])
    except ValueError:
        return False
    return isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None
