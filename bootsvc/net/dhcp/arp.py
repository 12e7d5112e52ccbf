"""Unicast to a client that has no address yet: RFC 2131 wants OFFER and ACK
sent to `yiaddr` at the client's hardware address, but the kernel cannot ARP
for an address nobody holds yet. Like dnsmasq, add the neighbour entry
ourselves (SIOCSARP) before sending."""

from __future__ import annotations

import fcntl
import socket
import struct

SIOCSARP = 0x8955
ARPHRD_ETHER = 1
ATF_COM = 0x02


def add_neighbour(sock: socket.socket, ip: str, mac: bytes, interface: str) -> bool:
    """Tell the kernel that `ip` is at `mac` on `interface`; False if it refused."""
    protocol = struct.pack("=H2s4s8x", socket.AF_INET, b"\x00\x00", socket.inet_aton(ip))
    hardware = struct.pack("=H14s", ARPHRD_ETHER, mac[:6])
    request = protocol + hardware + struct.pack("=i", ATF_COM) + bytes(16)
    request += interface.encode()[:15].ljust(16, b"\x00")
    try:
        fcntl.ioctl(sock.fileno(), SIOCSARP, request)
    except OSError:
        return False
    return True
