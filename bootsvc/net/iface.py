"""Addresses of this host's interfaces: IPv4 and the MAC with ioctls, IPv6
from the kernel's table. Both are read in the calling thread's network
namespace (tests enter one per thread)."""

from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path

SIOCGIFADDR = 0x8915
SIOCGIFHWADDR = 0x8927
# The calling thread's namespace; /proc/net is the process's.
IF_INET6 = Path("/proc/thread-self/net/if_inet6")
SCOPE_LINK = 0x20
# if_inet6 flags: still being checked for duplicates, or found duplicate.
IFA_F_TENTATIVE_OR_DADFAILED = 0x40 | 0x08


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


def interface_mac(name: str) -> str | None:
    """The hardware address of interface `name`, or None if it has none."""
    request = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            reply = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, request)
        except OSError:
            return None
    return reply[18:24].hex(":")


def interface_ipv6(name: str) -> str | None:
    """An IPv6 address of interface `name` that others can reach and a URL
    can name: a global or ULA one when it has one, else its link-local one."""
    found: dict[bool, str] = {}
    try:
        lines = IF_INET6.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hexaddr, _index, _length, scope, flags, device = line.split()
        if device != name or int(flags, 16) & IFA_F_TENTATIVE_OR_DADFAILED:
            continue
        address = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hexaddr))
        found.setdefault(int(scope, 16) == SCOPE_LINK, address)
    return found.get(False) or found.get(True)
