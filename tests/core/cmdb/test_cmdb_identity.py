"""The CMDB never renames a node or moves a MAC, IP, serial or UUID between
nodes unless asked to with `replace`; what no host can hold is refused."""

from __future__ import annotations

from typing import Any

import pytest

from bootsvc.core import audit
from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord, parse
from bootsvc.core.views.objects import node_view
from bootsvc.errors import Conflict, InvalidInput, PayloadTooLarge
from bootsvc.store.db import Database

MAC1, MAC2, MAC3 = "52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"
UUID = "4c4c4544-0000-1111-2222-333333333333"


def upsert(db: Database, replace: bool = False, **fields: Any) -> cmdb.UpsertResult:
    with db.write() as session:
        return cmdb.upsert_node(session, parse(NodeRecord, fields), "sync", replace=replace)


def snapshot(db: Database) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Every node as the API shows it, and every audit entry."""
    with db.read() as session:
        nodes = [node_view(n).model_dump() for n in cmdb.list_nodes(session)]
        entries = [(e.action, e.subject) for e in audit.entries(session, limit=1000)]
    return nodes, entries


def interfaces(db: Database, hostname: str) -> list[tuple[str, str | None]]:
    with db.read() as session:
        return [(i.mac, i.ip) for i in node_view(cmdb.get_node(session, hostname)).interfaces]


def moves(db: Database) -> list[tuple[str, str, str | None, str | None, dict[str, Any]]]:
    with db.read() as session:
        return [
            (e.action, e.subject, e.from_value, e.to_value, e.details)
            for e in reversed(audit.entries(session, limit=1000))
            if e.action in {"node.move", "node.rename"}
        ]


@pytest.fixture
def two_nodes(db: Database) -> Database:
    upsert(
        db,
        hostname="n1",
        interfaces=[{"mac": MAC1, "ip": "10.0.0.1"}, {"mac": MAC2}],
        serial="SN1",
        uuid=UUID,
    )
    upsert(db, hostname="n2", interfaces=[{"mac": MAC3}])
    return db


def test_a_new_hostname_for_a_known_mac_is_refused_not_a_rename(two_nodes: Database) -> None:
    before = snapshot(two_nodes)
    with pytest.raises(Conflict) as refused:
        upsert(two_nodes, hostname="n9", interfaces=[{"mac": MAC1}])
    assert refused.value.message == (
        f"MAC {MAC1} belongs to node n1; this record is for n9; "
        "send replace: true (--replace on the CLI) to rename n1 to n9"
    )
    assert snapshot(two_nodes) == before


def test_replace_renames_and_audits(two_nodes: Database) -> None:
    result = upsert(two_nodes, replace=True, hostname="n9", interfaces=[{"mac": MAC1}])
    assert result.node.hostname == "n9" and result.changed
    assert interfaces(two_nodes, "n9") == [(MAC1, "10.0.0.1"), (MAC2, None)]
    assert moves(two_nodes) == [("node.rename", "node/n9", "n1", "n9", {})]
    again = upsert(two_nodes, replace=True, hostname="n9", interfaces=[{"mac": MAC1}])
    assert not again.changed


@pytest.mark.parametrize(
    ("record", "message", "moved"),
    [
        (
            {"interfaces": [{"mac": MAC3}, {"mac": MAC2}]},
            f"MAC {MAC2} belongs to node n1; this record is for n2",
            {"mac": MAC2},
        ),
        (
            {"interfaces": [{"mac": MAC3, "ip": "10.0.0.1"}]},
            "IP 10.0.0.1 belongs to node n1; this record is for n2",
            {"ip": "10.0.0.1"},
        ),
        (
            {"interfaces": [{"mac": MAC3}], "serial": "SN1"},
            "serial SN1 belongs to node n1; this record is for n2",
            {"serial": "SN1"},
        ),
        (
            {"interfaces": [{"mac": MAC3}], "uuid": UUID},
            f"UUID {UUID} belongs to node n1; this record is for n2",
            {"uuid": UUID},
        ),
    ],
)
def test_moving_identity_needs_replace(
    two_nodes: Database, record: dict[str, Any], message: str, moved: dict[str, str]
) -> None:
    before = snapshot(two_nodes)
    with pytest.raises(Conflict, match=message + r"; send replace: true .* to move it$"):
        upsert(two_nodes, hostname="n2", **record)
    assert snapshot(two_nodes) == before

    upsert(two_nodes, replace=True, hostname="n2", **record)
    assert moves(two_nodes) == [("node.move", "node/n1", "n1", "n2", moved)]
    with two_nodes.read() as session:
        old, new = cmdb.get_node(session, "n1"), cmdb.get_node(session, "n2")
        old_view, new_view = node_view(old).model_dump(), node_view(new).model_dump()
    for key, value in moved.items():
        if key in {"serial", "uuid"}:
            assert (old_view[key], new_view[key]) == (None, value)
        else:
            held = {i[key] for i in new_view["interfaces"]}
            assert value in held and value not in {i[key] for i in old_view["interfaces"]}
    # Sent again, the record is already true: nothing changes.
    after = snapshot(two_nodes)
    assert not upsert(two_nodes, hostname="n2", **record).changed
    assert snapshot(two_nodes) == after


def test_a_move_that_leaves_a_node_unfindable_is_refused(db: Database) -> None:
    upsert(db, hostname="n1", interfaces=[{"mac": MAC1}])
    upsert(db, hostname="n2", interfaces=[{"mac": MAC2}])
    before = snapshot(db)
    with pytest.raises(Conflict, match="would leave node n1 with no MAC and no serial"):
        upsert(db, replace=True, hostname="n2", interfaces=[{"mac": MAC1}])
    assert snapshot(db) == before


def test_patch_moves_identity_only_with_replace(two_nodes: Database) -> None:
    record = parse(NodeRecord, {"interfaces": [{"mac": MAC3}, {"mac": MAC2}]})
    before = snapshot(two_nodes)
    with pytest.raises(Conflict, match=f"MAC {MAC2} belongs to n"), two_nodes.write() as session:
        cmdb.patch_node(session, "n2", record, "sync")
    assert snapshot(two_nodes) == before
    with two_nodes.write() as session:
        cmdb.patch_node(session, "n2", record, "sync", replace=True)
    assert interfaces(two_nodes, "n1") == [(MAC1, "10.0.0.1")]
    assert interfaces(two_nodes, "n2") == [(MAC3, None), (MAC2, None)]


def test_an_import_giving_one_mac_two_hostnames_writes_nothing(two_nodes: Database) -> None:
    records = [
        parse(NodeRecord, {"hostname": "a", "interfaces": [{"mac": "52:54:00:00:00:0a"}]}),
        parse(NodeRecord, {"hostname": "b", "interfaces": [{"mac": "52:54:00:00:00:0a"}]}),
    ]
    before = snapshot(two_nodes)
    for replace in (False, True):
        with (
            pytest.raises(InvalidInput, match=r"records 1 \(a\) and 2 \(b\) both list MAC"),
            two_nodes.write() as session,
        ):
            cmdb.import_nodes(session, records, "sync", replace=replace)
    assert snapshot(two_nodes) == before


def test_an_import_moves_identity_only_with_replace(two_nodes: Database) -> None:
    records = [
        parse(NodeRecord, {"hostname": "n3", "interfaces": [{"mac": "52:54:00:00:00:0a"}]}),
        parse(NodeRecord, {"hostname": "n2", "interfaces": [{"mac": MAC3}, {"mac": MAC2}]}),
    ]
    before = snapshot(two_nodes)
    with pytest.raises(Conflict, match=r"record 2 \(n2\): MAC"), two_nodes.write() as session:
        cmdb.import_nodes(session, records, "sync")
    assert snapshot(two_nodes) == before
    with two_nodes.write() as session:
        cmdb.import_nodes(session, records, "sync", replace=True)
    assert interfaces(two_nodes, "n2") == [(MAC3, None), (MAC2, None)]
    assert [m[0:4] for m in moves(two_nodes)] == [("node.move", "node/n1", "n1", "n2")]


@pytest.mark.parametrize(
    ("interface", "message"),
    [
        ({"mac": "00:00:00:00:00:00"}, "all-zero MAC"),
        ({"mac": "ff:ff:ff:ff:ff:ff"}, "broadcast MAC"),
        ({"mac": "01:00:5e:00:00:01"}, "multicast MAC"),
        ({"mac": "33:33:00:00:00:01"}, "multicast MAC"),
        ({"mac": MAC1, "ip": "0.0.0.0"}, "unspecified address"),
        ({"mac": MAC1, "ip": "::"}, "unspecified address"),
        ({"mac": MAC1, "ip": "255.255.255.255"}, "broadcast address"),
        ({"mac": MAC1, "ip": "224.0.0.1"}, "multicast address"),
        ({"mac": MAC1, "ip": "ff02::1"}, "multicast address"),
        ({"mac": MAC1, "ip": "127.0.0.1"}, "loopback address"),
        ({"mac": MAC1, "ip": "::1"}, "loopback address"),
        ({"mac": MAC1, "ip": "169.254.10.10"}, "link-local address"),
        ({"mac": MAC1, "ip": "fe80::1"}, "link-local address"),
        ({"mac": MAC1, "ip": "240.0.0.1"}, "reserved address"),
        ({"mac": MAC1, "ip": "::ffff:127.0.0.1"}, "loopback address"),
    ],
)
def test_macs_and_ips_no_host_can_hold_are_refused(
    db: Database, interface: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        upsert(db, hostname="n1", interfaces=[interface])
    assert snapshot(db) == ([], [])


def test_a_cluster_networks_own_addresses_are_refused(db: Database) -> None:
    networks = [{"name": "prov", "cidr": "10.1.0.0/24"}, {"name": "p2p", "cidr": "10.2.0.0/31"}]
    with db.write() as session:
        record = parse(ClusterRecord, {"name": "c1", "domain": "c1.example", "networks": networks})
        cmdb.upsert_cluster(session, record, "t")
    before = snapshot(db)
    for ip, kind in (("10.1.0.0", "network"), ("10.1.0.255", "broadcast")):
        with pytest.raises(InvalidInput, match=f"IP {ip} is the {kind} address of network prov"):
            upsert(db, hostname="n1", cluster="c1", interfaces=[{"mac": MAC1, "ip": ip}])
    assert snapshot(db) == before
    # Both addresses of a point-to-point /31 are hosts'.
    upsert(db, hostname="n1", cluster="c1", interfaces=[{"mac": MAC1, "ip": "10.2.0.0"}])
    assert interfaces(db, "n1") == [(MAC1, "10.2.0.0")]


def test_facts_are_bounded(db: Database) -> None:
    big = {"blob": "x" * 2000}
    record = parse(NodeRecord, {"hostname": "n1", "serial": "S", "facts": big})
    with pytest.raises(PayloadTooLarge, match="setting cmdb_max_facts"), db.write() as session:
        cmdb.upsert_node(session, record, "t", max_facts_bytes=1024)
    with pytest.raises(PayloadTooLarge, match=r"record 1 \(n1\): facts"), db.write() as session:
        cmdb.import_nodes(session, [record], "t", max_facts_bytes=1024)
    assert snapshot(db) == ([], [])
    with db.write() as session:
        cmdb.upsert_node(session, record, "t", max_facts_bytes=4096)
    assert snapshot(db)[0][0]["facts"] == big
