from __future__ import annotations

import socket
from pathlib import Path

from bootsvc.net.link import NeighbourTable, interface_mtu, neighbour_limit
from tests.support.clock import Clock

TABLE = """\
IP address       HW type     Flags       HW address            Mask     Device
10.0.0.7         0x1         0x2         52:54:00:AA:BB:07     *        br0
10.0.0.8         0x1         0x0         00:00:00:00:00:00     *        br0
"""
RESOLVED = TABLE.replace("0x0         00:00:00:00:00:00", "0x2         52:54:00:aa:bb:08")


def test_neighbour_table_reads_complete_entries(tmp_path: Path) -> None:
    table = tmp_path / "arp"
    table.write_text(TABLE)
    neighbours = NeighbourTable(table)
    assert neighbours.mac_of("10.0.0.7") == "52:54:00:aa:bb:07"
    assert neighbours.mac_of("10.0.0.8") is None  # still resolving
    assert neighbours.mac_of("10.0.0.9") is None
    assert NeighbourTable(tmp_path / "missing").mac_of("10.0.0.7") is None


def test_neighbour_table_reads_again_for_an_address_it_did_not_know(tmp_path: Path) -> None:
    table = tmp_path / "arp"
    table.write_text(TABLE)
    neighbours = NeighbourTable(table, clock=Clock())
    assert neighbours.mac_of("10.0.0.8") is None
    table.write_text(RESOLVED)
    assert neighbours.mac_of("10.0.0.8") == "52:54:00:aa:bb:08"


def test_neighbour_table_keeps_a_known_address_until_refresh(tmp_path: Path) -> None:
    table = tmp_path / "arp"
    table.write_text(TABLE)
    clock = Clock()
    neighbours = NeighbourTable(table, refresh_s=1.0, clock=clock)
    assert neighbours.mac_of("10.0.0.7") == "52:54:00:aa:bb:07"
    table.write_text(TABLE.replace("52:54:00:AA:BB:07", "52:54:00:AA:BB:77"))
    clock.now += 0.5
    assert neighbours.mac_of("10.0.0.7") == "52:54:00:aa:bb:07"
    clock.now += 0.6
    assert neighbours.mac_of("10.0.0.7") == "52:54:00:aa:bb:77"


def test_neighbour_limit(tmp_path: Path) -> None:
    assert neighbour_limit(Path("/proc/sys/net/ipv4/neigh/default/gc_thresh3")) is not None
    (tmp_path / "gc_thresh3").write_text("1024\n")
    assert neighbour_limit(tmp_path / "gc_thresh3") == 1024
    assert neighbour_limit(tmp_path / "missing") is None


def test_interface_mtu_of_loopback() -> None:
    assert interface_mtu(socket.if_nametoindex("lo")) == 65536
    assert interface_mtu(999_999) is None
