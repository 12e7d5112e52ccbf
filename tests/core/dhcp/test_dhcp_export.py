"""`dhcp export` for a site's own server, checked by that server's own
configuration checker: kea-dhcp4 -t, dnsmasq --test, dhcpd -t."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import InterfaceRecord, NodeRecord
from bootsvc.core.dhcp.directory import Directory
from bootsvc.core.dhcp.export import export
from bootsvc.errors import InvalidInput
from bootsvc.settings import DhcpMode
from bootsvc.store.db import Database
from tests.support.dhcpstack import add_cluster_network, dhcp_settings


def checker(fmt: str, path: Path) -> list[str]:
    return {
        "kea": ["kea-dhcp4", "-t", str(path)],
        "dnsmasq": ["dnsmasq", "--test", "-C", str(path)],
        "isc": ["dhcpd", "-t", "-4", "-cf", str(path)],
    }[fmt]


def check(fmt: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{fmt}.conf"
    path.write_text(text)
    env = dict(os.environ, KEA_LOCKFILE_DIR=str(tmp_path), KEA_PIDFILE_DIR=str(tmp_path))
    return subprocess.run(
        checker(fmt, path), capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture
def site(db: Database) -> Database:
    """A cluster with a provisioning network and its pool, and nodes with
    addresses on both networks (one without an address)."""
    add_cluster_network(db, "10.10.0.0/24", "10.10.0.1", "10.10.0.100-10.10.0.150")
    with db.write() as session:
        for hostname, mac, ip in [
            ("hv1", "52:54:00:00:00:01", "10.0.0.11"),
            ("hv2", "52:54:00:00:00:02", "10.10.0.12"),
            ("spare", "52:54:00:00:00:03", None),
        ]:
            node = NodeRecord(
                hostname=hostname, cluster="c1", interfaces=[InterfaceRecord(mac=mac, ip=ip)]
            )
            cmdb.upsert_node(session, node, "test")
    return db


EXPECTED = {
    "kea": ['"hw-address": "52:54:00:00:00:01", "ip-address": "10.0.0.11"', "option[93].hex"],
    "dnsmasq": ["dhcp-host=52:54:00:00:00:02,10.10.0.12,hv2", "dhcp-userclass=set:ipxe,iPXE"],
    "isc": ["hardware ethernet 52:54:00:00:00:01;", 'filename "undionly.kpxe";'],
}


BREAK: dict[str, Callable[[str], str]] = {
    "kea": lambda text: text.replace('"subnet4"', '"subnet-4"'),
    "dnsmasq": lambda text: text + "no-such-option=1\n",
    "isc": lambda text: text.replace("fixed-address 10.10.0.12", "fixed-address 10.10.0.12.7"),
}


@pytest.mark.parametrize("fmt", ["kea", "dnsmasq", "isc"])
def test_export_passes_the_servers_own_check(
    site: Database, data_dir: Path, tmp_path: Path, fmt: str
) -> None:
    settings = dhcp_settings(data_dir, site, dhcp_mode=DhcpMode.OFF, dhcp_ntp="10.0.0.5")
    text = export(Directory(site, settings), settings, fmt)
    for expected in EXPECTED[fmt] + ["10.10.0.100", "http://10.0.0.1:8080/boot.ipxe"]:
        assert expected in text
    assert "52:54:00:00:00:03" not in text
    done = check(fmt, text, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # The checker does fail on a broken file, so the pass above means something.
    broken = check(fmt, BREAK[fmt](text), tmp_path)
    assert broken.returncode != 0


def test_export_needs_a_subnet_and_a_tftp_address(db: Database, data_dir: Path) -> None:
    bare = dhcp_settings(data_dir, db, dhcp_subnet="", dhcp_pool="")
    with pytest.raises(InvalidInput, match="no subnet"):
        export(Directory(db, bare), bare, "kea")
    named = dhcp_settings(data_dir, db, advertise_url="http://boot.example:8080")
    with pytest.raises(InvalidInput, match="dhcp_next_server"):
        export(Directory(db, named), named, "kea")
    given = dhcp_settings(
        data_dir, db, advertise_url="http://boot.example:8080", dhcp_next_server="10.0.0.9"
    )
    assert "next-server 10.0.0.9;" in export(Directory(db, given), given, "isc")
