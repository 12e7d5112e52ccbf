from __future__ import annotations

import socket
from pathlib import Path

from bootsvc.net.link import interface_mtu, neighbour_mac

TABLE = """\
IP address       HW type     Flags       HW address            Mask     Device
10.0.0.7         0x1         0x2         52:54:00:AA:BB:07     *        br0
10.0.0.8         0x1         0x0         00:00:00:00:00:00     *        br0
"""


def test_neighbour_mac_reads_complete_entries(tmp_path: Path) -> None:
    table = tmp_path / "arp"
    table.write_text(TABLE)
    assert neighbour_mac("10.0.0.7", table) == "52:54:00:aa:bb:07"
    assert neighbour_mac("10.0.0.8", table) is None  # still resolving
    assert neighbour_mac("10.0.0.9", table) is None
    assert neighbour_mac("10.0.0.7", tmp_path / "missing") is None


def test_interface_mtu_of_loopback() -> None:
    assert interface_mtu(socket.if_nametoindex("lo")) == 65536
    assert interface_mtu(999_999) is None
