"""A real DHCPv6 client against bootsvc in a network namespace: ISC
`dhclient -6` gets an address from the range, renews it at T1 and releases
it, and the database shows each step (SQLite and PostgreSQL). busybox on
Debian 12 has no udhcpc6, so dhclient is the client here. With radvd
sending the router advertisements the README gives, the client reaches
the server from its DHCPv6 address over the advertised on-link prefix."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootsvc.core.dhcp6 import leases
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND, RELEASED
from tests.net.dhcp.test_dhcp_clients import script, wait_line
from tests.support.dhcp6stack import LAB6_SETTINGS, RANGE, SERVER_ADDRESS, Lab6, running_service6

pytestmark = pytest.mark.netns
README = Path(__file__).parents[3] / "README.md"

DHCLIENT6_SCRIPT = """#!/bin/sh
echo "$reason ip=$new_ip6_address prefix=$new_ip6_prefixlen \\
dns=$new_dhcp6_name_servers" >> {log}
case "$reason" in
  BOUND6|RENEW6|REBIND6) ip -6 addr replace "$new_ip6_address/128" dev "$interface" nodad ;;
  EXPIRE6|RELEASE6|STOP6) ip -6 addr del "$old_ip6_address/128" dev "$interface" ;;
esac
"""


@pytest.fixture
def dhcp6_lab(db: Database, data_dir: Path) -> Iterator[Lab6]:
    settings = Settings(
        data_dir=data_dir,
        database_url=db.url,
        dhcp6_mode=DhcpMode.AUTHORITATIVE,
        dhcp_lease_seconds=10,
        **LAB6_SETTINGS,
    )
    with running_service6(settings, db) as lab:
        yield lab


def lease_of(db: Database, address: str) -> leases.Lease6 | None:
    with db.read() as session:
        found = leases.rows(session, addresses=[address])
    return found[0] if found else None


def test_dhclient6(dhcp6_lab: Lab6, db: Database, tmp_path: Path) -> None:
    log = tmp_path / "events"
    handler = script(tmp_path / "dhclient6.sh", DHCLIENT6_SCRIPT, log)
    files = ["-sf", str(handler), "-lf", str(tmp_path / "leases"), "-pf", str(tmp_path / "pid")]
    first, last = (ipaddress.IPv6Address(a) for a in RANGE.split("-"))
    try:
        dhcp6_lab.client.sh("dhclient", "-6", "-1", *files, "cli0")
        bound = wait_line(log, "BOUND6")
        address = bound["ip"]
        assert first <= ipaddress.IPv6Address(address) <= last
        assert bound["dns"] == "fd00:77::1"
        assert f"inet6 {address}/128" in dhcp6_lab.client.ip("-6", "addr", "show", "cli0")
        lease = lease_of(db, address)
        assert lease is not None and lease.state == BOUND
        mac = dhcp6_lab.client.sh("cat", "/sys/class/net/cli0/address").strip()
        # dhclient's DUID is a DUID-LLT of the interface: the lease names the MAC.
        assert lease.mac == mac
        # The lease is 10 s: dhclient renews by itself at T1 (5 s).
        assert wait_line(log, "RENEW6", timeout=20)["ip"] == address
        renewal = dhcp6_lab.log.wait("dhcp6.renew", mac=mac, reply="reply")
        assert renewal["ip"] == address
        renewed = lease_of(db, address)
        assert renewed is not None and renewed.expires > lease.expires
        dhcp6_lab.client.sh("dhclient", "-6", "-r", *files, "cli0")
        dhcp6_lab.log.wait("dhcp6.release", mac=mac, reply="reply")
        released = lease_of(db, address)
        assert released is not None and released.state == RELEASED
    finally:
        pidfile = tmp_path / "pid"
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def readme_radvd_conf(interface: str) -> str:
    """The radvd configuration the README gives sites, for `interface`."""
    block = re.search(r"```\n(interface eth1 \{.*?\n\};)\n```", README.read_text(), re.S)
    assert block is not None, "the README has no radvd example"
    return block.group(1).replace("interface eth1", f"interface {interface}")


def test_dhclient6_behind_the_readmes_router_advertisements(
    dhcp6_lab: Lab6, db: Database, tmp_path: Path
) -> None:
    conf = tmp_path / "radvd.conf"
    conf.write_text(readme_radvd_conf("srv0") + "\n")
    dhcp6_lab.server.sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    radvd = dhcp6_lab.server.popen(
        ["radvd", "-n", "-m", "stderr", "-C", str(conf), "-p", str(tmp_path / "radvd.pid")],
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "events"
    handler = script(tmp_path / "dhclient6.sh", DHCLIENT6_SCRIPT, log)
    files = ["-sf", str(handler), "-lf", str(tmp_path / "leases"), "-pf", str(tmp_path / "pid")]
    try:
        # The advertisement: the prefix on link, a default router, no SLAAC.
        deadline = time.monotonic() + 30
        routes = ""
        while "fd00:77::/64" not in routes and time.monotonic() < deadline:
            assert radvd.poll() is None, radvd.communicate()[1]
            routes = dhcp6_lab.client.ip("-6", "route", "show", "dev", "cli0")
            time.sleep(0.2)
        # A prefix route the kernel learned from an advertisement expires.
        assert re.search(r"^fd00:77::/64 proto kernel .*expires", routes, re.M), routes
        assert re.search(r"^default via fe80::\S+ proto ra", routes, re.M), routes
        assert "scope global" not in dhcp6_lab.client.ip("-6", "addr", "show", "cli0")
        dhcp6_lab.client.sh("dhclient", "-6", "-1", *files, "cli0")
        address = wait_line(log, "BOUND6")["ip"]
        lease = lease_of(db, address)
        assert lease is not None and lease.state == BOUND
        # From its DHCPv6 address the client reaches the server's, on the
        # advertised prefix: what the boot file URL needs.
        listener = dhcp6_lab.server.call(
            lambda: socket.create_server((SERVER_ADDRESS, 0), family=socket.AF_INET6)
        )
        with listener:
            port = listener.getsockname()[1]
            connection = dhcp6_lab.client.call(
                socket.create_connection, (SERVER_ADDRESS, port), 5, (address, 0)
            )
            with connection, listener.accept()[0] as accepted:
                assert accepted.getpeername()[0] == address
    finally:
        pidfile = tmp_path / "pid"
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
