"""Real DHCP clients against bootsvc in a network namespace: busybox udhcpc
and ISC dhclient each get a lease, renew it and release it."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bootsvc.core.dhcp import leases
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND, RELEASED
from tests.support.dhcpstack import Lab

pytestmark = pytest.mark.netns

UDHCPC_SCRIPT = """#!/bin/sh
echo "$1 ip=$ip mask=$mask router=$router dns=$dns hostname=$hostname domain=$domain" >> {log}
case "$1" in
  deconfig) ip addr flush dev "$interface" ;;
  bound|renew) ip addr replace "$ip/$mask" dev "$interface" ;;
esac
"""

DHCLIENT_SCRIPT = """#!/bin/sh
echo "$reason ip=$new_ip_address mask=$new_subnet_mask router=$new_routers \\
dns=$new_domain_name_servers hostname=$new_host_name domain=$new_domain_name" >> {log}
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
  EXPIRE|FAIL|RELEASE|STOP) ip addr flush dev "$interface" ;;
esac
"""


def script(path: Path, text: str, log: Path) -> Path:
    path.write_text(text.format(log=log))
    path.chmod(0o755)
    return path


def wait_line(log: Path, word: str, count: int = 1, timeout: float = 30.0) -> dict[str, str]:
    """The `count`th line the client script wrote for `word`, as fields."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        found = [line for line in lines if line.split(" ", 1)[0] == word]
        if len(found) >= count:
            return dict(item.split("=", 1) for item in found[count - 1].split(" ")[1:])
        time.sleep(0.1)
    raise AssertionError(f"the client never reported {word!r}; it wrote: {lines}")


def lease_state(db: Database, ip: str) -> tuple[str, str] | None:
    with db.read() as session:
        found = leases.rows(session, ips=[ip])
    return (found[0].mac, found[0].state) if found else None


def check_bound(fields: dict[str, str], lab: Lab, db: Database) -> str:
    ip = fields["ip"]
    assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("10.77.0.0/24")
    assert 100 <= int(ip.rsplit(".", 1)[1]) <= 199
    assert fields["router"] == "10.77.0.1" and fields["domain"] == "lab.test"
    assert f"inet {ip}/24" in lab.client.ip("addr", "show", "cli0")
    state = lease_state(db, ip)
    assert state is not None and state[1] == BOUND
    return ip


def test_udhcpc(dhcp_lab: Lab, db: Database, tmp_path: Path) -> None:
    log = tmp_path / "events"
    handler = script(tmp_path / "udhcpc.sh", UDHCPC_SCRIPT, log)
    argv = ["busybox", "udhcpc", "-f", "-i", "cli0", "-s", str(handler), "-t", "5", "-T", "1"]
    client = dhcp_lab.client.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ip = check_bound(wait_line(log, "bound"), dhcp_lab, db)
    mac = lease_state(db, ip)[0]  # type: ignore[index]
    # Renew now (SIGUSR1): a REQUEST from the bound address, answered to it.
    client.send_signal(signal.SIGUSR1)
    assert wait_line(log, "renew")["ip"] == ip
    renewal = dhcp_lab.log.wait("dhcp.request", mac=mac, reply="ack", to=ip)
    assert renewal["ip"] == ip
    # Release (SIGUSR2).
    client.send_signal(signal.SIGUSR2)
    dhcp_lab.log.wait("dhcp.release", mac=mac, reason=f"released {ip}")
    assert lease_state(db, ip) == (mac, RELEASED)
    client.terminate()


def test_dhclient(dhcp_lab: Lab, db: Database, tmp_path: Path) -> None:
    log = tmp_path / "events"
    handler = script(tmp_path / "dhclient.sh", DHCLIENT_SCRIPT, log)
    files = ["-sf", str(handler), "-lf", str(tmp_path / "leases"), "-pf", str(tmp_path / "pid")]
    try:
        dhcp_lab.client.sh("dhclient", "-1", "-4", *files, "cli0")
        ip = check_bound(wait_line(log, "BOUND"), dhcp_lab, db)
        mac = lease_state(db, ip)[0]  # type: ignore[index]
        # The lease is 10 s: dhclient renews by itself at T1, from its address.
        assert wait_line(log, "RENEW", timeout=20)["ip"] == ip
        dhcp_lab.log.wait("dhcp.request", mac=mac, reply="ack", to=ip)
        dhcp_lab.client.sh("dhclient", "-r", "-4", *files, "cli0")
        wait_line(log, "RELEASE")
        dhcp_lab.log.wait("dhcp.release", mac=mac, reason=f"released {ip}")
        assert lease_state(db, ip) == (mac, RELEASED)
    finally:
        pidfile = tmp_path / "pid"
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
