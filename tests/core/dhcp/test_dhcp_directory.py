"""The CMDB as the DHCP server keeps it: changes come in with a partial
refresh, removals with the next full one."""

from __future__ import annotations

import time
from pathlib import Path

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, InterfaceRecord, NodeRecord
from bootsvc.core.dhcp.directory import Directory, Known
from bootsvc.store.db import Database
from tests.support.dhcpstack import dhcp_settings

MAC = "52:54:00:00:00:01"


def upsert(db: Database, ip: str) -> None:
    record = NodeRecord(hostname="hv1", cluster="c1", interfaces=[InterfaceRecord(mac=MAC, ip=ip)])
    with db.write() as session:
        cmdb.upsert_node(session, record, "test")


def test_partial_and_full_refresh(db: Database, data_dir: Path) -> None:
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="c1", domain="c1.test"), "test")
    upsert(db, "10.0.0.11")
    directory = Directory(db, dhcp_settings(data_dir, db))
    directory.refresh()
    assert directory.node(MAC) == Known("hv1", "10.0.0.11", "c1.test")
    assert directory.reserved_for_another("10.0.0.11", "02:00:00:00:00:99")
    before = time.time() - 1
    upsert(db, "10.0.0.12")
    with db.write() as session:
        cmdb.patch_cluster(session, "c1", "test", domain="c2.test")
    directory.refresh(since=before)
    assert directory.node(MAC) == Known("hv1", "10.0.0.12", "c2.test")
    with db.write() as session:
        cmdb.remove_node(session, "hv1", "test")
    directory.refresh(since=time.time() - 1)
    assert directory.node(MAC) is not None
    directory.refresh()
    assert directory.node(MAC) is None
    assert not directory.reserved_for_another("10.0.0.12", "02:00:00:00:00:99")


def test_a_node_registered_after_the_refresh_is_found_at_once(db: Database, data_dir: Path) -> None:
    """An admin adds a node and powers it on: its first DISCOVER must get its
    reserved address, not wait for the next refresh."""
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="c1", domain="c1.test"), "test")
    directory = Directory(db, dhcp_settings(data_dir, db))
    directory.refresh()
    assert directory.node(MAC) is None
    upsert(db, "10.0.0.11")
    time.sleep(0.1)
    assert directory.node(MAC) == Known("hv1", "10.0.0.11", "c1.test")
    assert directory.reserved_for_another("10.0.0.11", "02:00:00:00:00:99")


def test_a_rack_registered_after_the_refresh_is_found_when_it_powers_on_at_once(
    db: Database, data_dir: Path
) -> None:
    directory = Directory(db, dhcp_settings(data_dir, db))
    directory.refresh()
    macs = [f"52:54:00:00:01:{index:02x}" for index in range(1, 9)]
    for index, mac in enumerate(macs, start=1):
        record = NodeRecord(
            hostname=f"r{index}", interfaces=[InterfaceRecord(mac=mac, ip=f"10.0.1.{index}")]
        )
        with db.write() as session:
            cmdb.upsert_node(session, record, "test")
    # Eight DISCOVERs in the same instant, before the next refresh.
    assert [directory.node(mac) for mac in macs] == [
        Known(f"r{index}", f"10.0.1.{index}", None) for index in range(1, 9)
    ]
