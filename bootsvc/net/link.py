"""What the kernel knows about the link a client is on: its MAC address (from
the neighbour table) and the MTU of the interface it reached us through.

Firmware fetching a loader names no MAC in its TFTP request, yet an operator
follows a machine through the logs by MAC: for a client on the same link the
kernel has just resolved its address to answer it, so the neighbour table
knows it.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path

SIOCGIFMTU = 0x8921
_ARP_TABLE = Path("/proc/net/arp")
_COMPLETE = 0x2
_INCOMPLETE_MAC = "00:00:00:00:00:00"


def neighbour_mac(ip: str, table: Path = _ARP_TABLE) -> str | None:
    """The MAC address the kernel resolved for `ip`, or None."""
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[0] != ip:
            continue
        try:
            complete = int(fields[2], 16) & _COMPLETE
        except ValueError:
            return None
        mac = fields[3].lower()
        return mac if complete and mac != _INCOMPLETE_MAC else None
    return None


def interface_mtu(index: int) -> int | None:
    """The MTU of the interface with this index, or None if it is gone."""
    try:
        name = socket.if_indextoname(index)
    except OSError:
        return None
    request = struct.pack("16si", name.encode()[:15], 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            reply = fcntl.ioctl(sock.fileno(), SIOCGIFMTU, request)
        except OSError:
            return None
    mtu: int = struct.unpack("16si", reply)[1]
    return mtu
