"""A snapshot as read from the CMDB: members in hostname order with their
interfaces in name order, the address /etc/hosts gives each, and a digest
that stays put while nothing changes and moves when a member does."""

from __future__ import annotations

import ipaddress

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord
from bootsvc.core.nodeconfig import inputs
from bootsvc.core.nodeconfig.inputs import Iface
from bootsvc.store.db import Database
from tests.support import factory


def _cluster(db: Database) -> None:
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="c", domain="c.example.org"), factory.ACTOR)
    factory.node(
        db,
        hostname="b2",
        cluster="c",
        roles=["hypervisor", "ceph-mon"],
        interfaces=[
            {"name": "eth1", "mac": "52:54:00:00:02:01", "ip": "10.0.0.21", "vlan": 20},
            {"name": "eth0", "mac": "52:54:00:00:02:00"},
        ],
        facts={"addresses": {"ring": "10.30.0.2"}},
    )
    factory.node(
        db,
        hostname="a1",
        cluster="c",
        interfaces=[{"name": "eth0", "mac": "52:54:00:00:01:00"}],
        facts={"addresses": {"ring": 7, "storage": "10.20.0.1"}, "note": "ünï"},
    )
    factory.node(db, hostname="c3", cluster="c", interfaces=[{"mac": "52:54:00:00:03:00"}])
    factory.node(db, hostname="alone", interfaces=[{"mac": "52:54:00:00:09:00", "ip": "10.9.0.9"}])


def _load(db: Database, hostname: str) -> inputs.Snapshot:
    with db.read() as session:
        return inputs.load(session, hostname)


def test_members_as_the_cmdb_holds_them(db: Database) -> None:
    _cluster(db)
    snapshot = _load(db, "c3")
    assert snapshot.cluster is not None and snapshot.cluster.name == "c"
    assert [m.hostname for m in snapshot.members] == ["a1", "b2", "c3"]
    a1, b2, c3 = snapshot.members
    assert b2.interfaces == (
        Iface("eth0", "52:54:00:00:02:00", None, None),
        Iface("eth1", "52:54:00:00:02:01", "10.0.0.21", 20),
    )
    assert b2.has_role("ceph-mon") and not a1.has_role("ceph-mon")
    assert a1.facts["note"] == "ünï"
    # An interface's IP first, else the first address the facts give (a
    # string: a malformed one is skipped), else none.
    assert (a1.main_address, b2.main_address, c3.main_address) == ("10.20.0.1", "10.0.0.21", None)
    alone = _load(db, "alone")
    assert alone.cluster is None
    assert [(m.hostname, m.main_address) for m in alone.members] == [("alone", "10.9.0.9")]


def test_the_digest_follows_the_members(db: Database) -> None:
    _cluster(db)
    first = _load(db, "a1").digest
    assert _load(db, "b2").digest == first
    factory.node(db, hostname="other", interfaces=[{"mac": "52:54:00:00:08:00"}])
    assert _load(db, "a1").digest == first
    with db.write() as session:
        interfaces = [{"name": "eth0", "mac": "52:54:00:00:03:99"}]
        record = NodeRecord.model_validate({"interfaces": interfaces})
        cmdb.patch_node(session, "c3", record, factory.ACTOR)
    assert _load(db, "a1").digest != first


def test_the_columns_agree_with_the_members(db: Database) -> None:
    """What a render works out column by column (the hosts lines, corosync's
    and Ceph's addresses) is what each Member says of itself, and the node
    built alone is the one in the full list."""
    _cluster(db)
    snapshot = _load(db, "a1")
    alone = snapshot.member("b2")
    assert alone is not None and "members" not in snapshot.__dict__
    members = snapshot.members
    assert snapshot.hostnames == [m.hostname for m in members]
    assert snapshot.main_addresses == [m.main_address for m in members]
    networks = [
        inputs.Network("ring", "10.30.0.0/24", None, None),
        inputs.Network("lan", "10.0.0.0/24", None, None),
    ]
    for network in networks:
        assert snapshot.addresses_in(network) == [m.address_in(network) for m in members]
    assert snapshot.addresses_in(networks[1]) == [None, "10.0.0.21", None]
    assert alone.interfaces == members[1].interfaces and alone.ips == members[1].ips
    assert snapshot.member("b2") is members[1] and snapshot.member("zz") is None


def test_a_roster_stands_for_the_members_texts(db: Database) -> None:
    """A snapshot given the roster its texts give (as a stored document
    carries it) says the same of every member without parsing their rows,
    and parses them only when a template asks for more."""
    _cluster(db)
    with db.write() as session:
        cmdb.upsert_cluster(
            session,
            ClusterRecord.model_validate(
                {
                    "name": "c",
                    "domain": "c.example.org",
                    "networks": [
                        {"name": "lan", "cidr": "10.0.0.0/24"},
                        {"name": "ring", "cidr": "10.30.0.0/24"},
                    ],
                }
            ),
            factory.ACTOR,
        )
    with db.read() as session:
        cluster_id = inputs.cluster_of(session, "a1")
        assert cluster_id is not None
        texts = inputs.cluster_texts(session.connection(), cluster_id)
    full = inputs.cluster_snapshot(cluster_id, texts)
    roster = inputs.Roster.parse(full.roster().text())
    assert roster.addresses == {"lan": [None, "10.0.0.21", None], "ring": [None, "10.30.0.2", None]}
    stored = inputs.Snapshot(full.cluster, lambda: (texts[2], texts[3]), full.digest, roster)
    assert stored.digest == full.digest and stored.cluster == full.cluster
    assert (stored.hostnames, stored.roles, stored.nodeids) == (
        full.hostnames,
        full.roles,
        full.nodeids,
    )
    assert stored.main_addresses == full.main_addresses
    assert full.cluster is not None
    for network in full.cluster.networks:
        assert stored.addresses_in(network) == full.addresses_in(network)
    assert "_columns" not in stored.__dict__
    # The node rendered, read on its own, spares the parse too.
    with db.read() as session:
        alone = inputs.load_single(session, "b2").member("b2")
    assert alone is not None
    stored.know(alone)
    assert stored.member("b2") is alone and "_columns" not in stored.__dict__
    assert [m.hostname for m in stored.members] == ["a1", "b2", "c3"]
    assert [m.interfaces for m in stored.members] == [m.interfaces for m in full.members]
    assert stored.member("c3") is stored.members[2]


def test_a_network_holds_what_ipaddress_says_it_does() -> None:
    """holds() parses by inet_pton, for speed; it answers as ipaddress does,
    and an address of the other family or none at all is not held."""
    networks = [
        inputs.Network("v4", "10.0.0.0/16", None, None),
        inputs.Network("v6", "fd00::/64", None, None),
    ]
    candidates = [
        "10.0.0.0",
        "10.0.3.4",
        "10.0.255.255",
        "10.1.0.0",
        "9.255.255.255",
        "fd00::1",
        "fd00::ffff:ffff:ffff:ffff",
        "fd00:0:0:1::",
        "::ffff:10.0.0.1",
        "10.0.0.01",
        "1.2.3",
        "bogus",
        "",
        "10.0.0.1\0",
    ]
    for network in networks:
        cidr = ipaddress.ip_network(network.cidr)
        for candidate in candidates:
            try:
                expected = ipaddress.ip_address(candidate) in cidr
            except ValueError:
                expected = False
            assert network.holds(candidate) == expected, (network.cidr, candidate)
    assert [c for c in candidates if networks[0].holds(c)] == candidates[:3]
