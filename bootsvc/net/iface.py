"""Addresses of this host's interfaces, read with the SIOCGIFADDR ioctl."""

from __future__ import annotations

import fcntl
import socket
import struct

SIOCGIFADDR = 0x8915


def interface_ipv4(name: str) -> str | None:
    """The primary IPv4 address of interface `name`, or None if it has none."""
    request = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            reply = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
        except OSError:
            return None
    return socket.inet_ntoa(reply[20:24])


def primary_ipv4(preferred: str | None = None) -> str | None:
    """The address of `preferred`, else of the first interface that is not loopback."""
    if preferred:
        return interface_ipv4(preferred)
    for _index, name in socket.if_nameindex():
        if name == "lo":
            continue
        address = interface_ipv4(name)
        if address and not address.startswith("127."):
            return address
    return None
