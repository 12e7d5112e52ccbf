"""When the DNS server's zones follow the CMDB."""

from __future__ import annotations

from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, DNSLabel

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord
from bootsvc.core.dns.feed import CmdbZones
from bootsvc.core.dns.records import DnsSite
from bootsvc.net.dns import ZoneSet, name_key
from bootsvc.store.db import Database
from tests.support.clock import Clock

SITE = DnsSite(server="10.20.0.1", http_port=8080)


def rcode(zones: ZoneSet, name: str) -> int:
    answer = zones.lookup(name_key(DNSLabel(name)), QTYPE.A)
    assert answer is not None
    return answer.rcode


def serial(zones: ZoneSet) -> int:
    answer = zones.lookup(name_key(DNSLabel("lab.example")), QTYPE.SOA)
    assert answer is not None
    return int(answer.answer[0].rdata.times[0])


def add_node(db: Database, hostname: str, ip: str, mac: str) -> None:
    record = NodeRecord.model_validate(
        {"hostname": hostname, "cluster": "lab", "interfaces": [{"mac": mac, "ip": ip}]}
    )
    with db.write() as session:
        cmdb.upsert_node(session, record, "test")


@pytest.fixture
def lab(db: Database) -> Database:
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="lab", domain="lab.example"), "test")
    return db


def test_latest_sees_a_new_node_at_once_current_after_the_interval(lab: Database) -> None:
    clock = Clock()
    feed = CmdbZones(lab, SITE, refresh_seconds=1.0, clock=clock)
    before = feed.current()
    assert rcode(before, "node1.lab.example") == RCODE.NXDOMAIN
    add_node(lab, "node1", "10.20.0.11", "52:54:00:00:00:01")
    clock.now += 0.5
    assert feed.current() is before
    after = feed.latest()
    assert rcode(after, "node1.lab.example") == RCODE.NOERROR
    assert serial(after) > serial(before)

    add_node(lab, "node2", "10.20.0.12", "52:54:00:00:00:02")
    clock.now += 0.5
    assert feed.current() is after
    clock.now += 0.6
    assert rcode(feed.current(), "node2.lab.example") == RCODE.NOERROR


def test_nothing_changed_nothing_rebuilt(lab: Database) -> None:
    feed = CmdbZones(lab, SITE, refresh_seconds=0.0)
    first = feed.latest()
    with lab.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="lab", domain="lab.example"), "test")
    assert feed.latest() is first
    assert feed.current() is first


def test_a_late_commit_behind_a_newer_id_is_not_missed(lab: Database) -> None:
    """PostgreSQL hands out audit ids at insert and commits in any order."""
    if lab.is_sqlite:
        pytest.skip("SQLite serialises writers: ids always commit in order")
    # The slow writer renames a member: a node joining the cluster would
    # wait for the fast one, since joins to one cluster take turns (nodeids).
    add_node(lab, "before", "10.20.0.22", "52:54:00:00:00:0a")
    feed = CmdbZones(lab, SITE)
    with lab.write() as slow:
        record = NodeRecord.model_validate(
            {"hostname": "slow", "interfaces": [{"mac": "52:54:00:00:00:0a"}]}
        )
        cmdb.upsert_node(slow, record, "test", replace=True)
        slow.flush()  # takes the lower audit id, commits last
        add_node(lab, "fast", "10.20.0.21", "52:54:00:00:00:0b")
        zones = feed.latest()
        assert rcode(zones, "fast.lab.example") == RCODE.NOERROR
        assert rcode(zones, "slow.lab.example") == RCODE.NXDOMAIN
        first_serial = serial(zones)
    zones = feed.latest()
    assert rcode(zones, "slow.lab.example") == RCODE.NOERROR
    assert serial(zones) > first_serial


def test_an_unreadable_cmdb_keeps_the_last_zones(lab: Database, tmp_path: Path) -> None:
    add_node(lab, "node1", "10.20.0.11", "52:54:00:00:00:01")
    feed = CmdbZones(lab, SITE)
    served = feed.latest()
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        feed.db = empty
        assert feed.latest() is served
        assert rcode(served, "node1.lab.example") == RCODE.NOERROR
    finally:
        empty.dispose()
