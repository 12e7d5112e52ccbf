"""What the kernel knows about the link a client is on: its MAC address (from
the neighbour table) and the MTU of the interface it reached us through.

Firmware fetching a loader names no MAC in its TFTP request, yet an operator
follows a machine through the logs by MAC: for a client on the same link the
kernel has just resolved its address to answer it, so the neighbour table
knows it.
"""

from __future__ import annotations

import fcntl
import math
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

SIOCGIFMTU = 0x8921
_ARP_TABLE = Path("/proc/net/arp")
# The most neighbours the kernel keeps, for all namespaces together; absent
# inside a network namespace other than the host's.
NEIGHBOUR_LIMIT = Path("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
_COMPLETE = 0x2
_INCOMPLETE_MAC = "00:00:00:00:00:00"


class NeighbourTable:
    """The kernel's neighbour table, kept for `refresh_s` for the addresses it
    knows, read again for one it does not. The kernel formats every entry on
    each read, about 1 ms with a thousand neighbours, and a storm would pay
    it on every transfer and request it logs."""

    def __init__(
        self,
        path: Path = _ARP_TABLE,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.refresh_s = refresh_s
        self.clock = clock
        self._lock = threading.Lock()
        # (when read, MAC by address), replaced whole: threads look without the lock.
        self._read: tuple[float, dict[str, str]] = (-math.inf, {})

    def mac_of(self, ip: str) -> str | None:
        """The MAC address the kernel resolved for `ip`, or None."""
        read = self._read
        if ip in read[1] and self.clock() - read[0] < self.refresh_s:
            return read[1][ip]
        with self._lock:
            if self._read is read or ip not in self._read[1]:
                self._read = (self.clock(), _complete_entries(self.path))
            return self._read[1].get(ip)


def _complete_entries(table: Path) -> dict[str, str]:
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return {}
    macs = {}
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        try:
            complete = int(fields[2], 16) & _COMPLETE
        except ValueError:
            continue
        mac = fields[3].lower()
        if complete and mac != _INCOMPLETE_MAC:
            macs[fields[0]] = mac
    return macs


_NEIGHBOURS = NeighbourTable()


def neighbour_mac(ip: str) -> str | None:
    """The MAC address the kernel resolved for `ip`, or None."""
    return _NEIGHBOURS.mac_of(ip)


def neighbour_limit(path: Path = NEIGHBOUR_LIMIT) -> int | None:
    """How many neighbours the kernel keeps at most, or None where unreadable."""
    try:
        return int(path.read_text())
    except (OSError, ValueError):
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
