"""`bootsvc dhcp export` and `bootsvc dhcp leases`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from bootsvc.cli import cli
from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.leases import Lease
from bootsvc.core.dhcp6 import leases as leases6
from bootsvc.core.dhcp6.leases import Lease6
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND

ENV = {
    "BOOTSVC_DHCP_SUBNET": "10.0.0.0/24",
    "BOOTSVC_DHCP_POOL": "10.0.0.100-10.0.0.199",
    "BOOTSVC_ADVERTISE_URL": "http://10.0.0.1:8080",
}


def run(db: Database, data_dir: Path, *argv: str) -> str:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(data_dir), "--database-url", db.url, *argv], env=ENV
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_export_to_a_file(db: Database, data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dnsmasq.conf"
    run(db, data_dir, "dhcp", "export", "--format", "dnsmasq", "--output", str(out))
    assert "dhcp-range=set:net1,10.0.0.100,10.0.0.199,255.255.255.0,3600" in out.read_text()


def test_leases(db: Database, data_dir: Path) -> None:
    now = time.time()
    with db.write() as session:
        leases.claim(
            session,
            [
                Lease("10.0.0.9", "02:00:00:00:00:09", "10.0.0.0/24", BOUND, now - 60, now),
                Lease("10.0.0.10", "02:00:00:00:00:10", "10.0.0.0/24", BOUND, now + 60, now, "hv1"),
            ],
            now,
        )
    shown = json.loads(run(db, data_dir, "dhcp", "leases", "--json", "--all"))
    assert [(item["ip"], item["active"], item["hostname"]) for item in shown] == [
        ("10.0.0.9", False, None),
        ("10.0.0.10", True, "hv1"),
    ]
    table = run(db, data_dir, "dhcp", "leases")
    assert "10.0.0.10" in table and "hv1" in table and "10.0.0.9 " not in table


def test_dhcp6_leases_follow_the_ipv4_ones(db: Database, data_dir: Path) -> None:
    now = time.time()
    duid = "000300010200000000aa"
    with db.write() as session:
        leases.claim(
            session,
            [Lease("10.0.0.10", "02:00:00:00:00:10", "10.0.0.0/24", BOUND, now + 60, now)],
            now,
        )
        leases6.claim(
            session,
            [
                Lease6("fd00::1:0", duid, 7, None, "fd00::/64", BOUND, now + 60, now),
                Lease6("fd00::f", duid, 8, "02:00:00:00:00:aa", "fd00::/64", BOUND, now + 60, now),
            ],
            now,
            "test",
        )
    shown = json.loads(run(db, data_dir, "dhcp", "leases", "--json"))
    assert [(item["ip"], item["mac"], item.get("duid")) for item in shown] == [
        ("10.0.0.10", "02:00:00:00:00:10", None),
        ("fd00::f", "02:00:00:00:00:aa", duid),
        ("fd00::1:0", None, duid),
    ]
    table = run(db, data_dir, "dhcp", "leases").splitlines()
    assert table[2].split()[:3] == ["fd00::f", "02:00:00:00:00:aa", "bound"]
