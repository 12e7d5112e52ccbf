from __future__ import annotations

from typing import Any

import pytest

from bootsvc.core import audit
from bootsvc.core.cmdb import cmdb, nodefile
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord, parse
from bootsvc.core.views.objects import cluster_view, node_view
from bootsvc.errors import Conflict, InvalidInput, NotFound
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory

MAC1, MAC2, MAC3 = "52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"


def upsert(db: Database, **fields: Any) -> cmdb.UpsertResult:
    with db.write() as session:
        result = cmdb.upsert_node(session, parse(NodeRecord, fields), "cmdb-sync")
        node_view(result.node)
        return result


def show(db: Database, hostname: str) -> dict[str, Any]:
    with db.read() as session:
        return node_view(cmdb.get_node(session, hostname)).model_dump()


def test_upsert_is_idempotent(db: Database) -> None:
    record = {
        "hostname": "hv1",
        "interfaces": [{"name": "eno1", "mac": "52-54-00-00-00-01", "ip": "10.0.0.11"}],
        "serial": "SN1",
        "roles": ["hypervisor", "ceph-osd"],
        "facts": {"rack": "r1"},
    }
    first = upsert(db, **record)
    assert (first.created, first.changed) == (True, True)
    before = show(db, "hv1")
    second = upsert(db, **record)
    assert (second.created, second.changed) == (False, False)
    assert show(db, "hv1") == before
    with db.read() as session:
        assert [e.action for e in audit.entries(session, "node/hv1")] == ["node.create"]


def test_upsert_matches_by_mac_or_serial_and_merges(db: Database) -> None:
    upsert(db, hostname="hv1", interfaces=[{"mac": MAC1}], serial="SN1")
    result = upsert(db, serial="SN1", interfaces=[{"mac": MAC2, "ip": "10.0.0.12"}])
    assert not result.created and result.changed
    view = show(db, "hv1")
    assert [i["mac"] for i in view["interfaces"]] == [MAC1, MAC2]
    assert [i["name"] for i in view["interfaces"]] == ["eth0", "eth1"]
    upsert(db, interfaces=[{"mac": MAC1}], asset_tag="A-7")
    assert show(db, "hv1")["asset_tag"] == "A-7"
    assert show(db, "hv1")["serial"] == "SN1"


def test_used_mac_ip_hostname_and_uuid_name_the_owner(db: Database) -> None:
    upsert(
        db,
        hostname="hv1",
        interfaces=[{"mac": MAC1, "ip": "10.0.0.11"}],
        uuid="4c4c4544-0000-1111-2222-333333333333",
    )
    upsert(db, hostname="hv2", interfaces=[{"mac": MAC2}], serial="SN2")
    with pytest.raises(Conflict, match=r"IP 10\.0\.0\.11 belongs to node hv1; .* for hv3"):
        upsert(db, hostname="hv3", interfaces=[{"mac": MAC3, "ip": "10.0.0.11"}])
    with pytest.raises(Conflict, match=r"hostname 'hv1' is already used by node hv1"):
        upsert(db, hostname="hv1", interfaces=[{"mac": MAC3}])
    with pytest.raises(Conflict, match=r"UUID .* belongs to node hv1; this record is for hv3"):
        upsert(
            db,
            hostname="hv3",
            interfaces=[{"mac": MAC3}],
            uuid="4c4c4544-0000-1111-2222-333333333333",
        )
    with pytest.raises(Conflict, match="belong to different nodes: hv1, hv2"):
        upsert(db, interfaces=[{"mac": MAC1}], serial="SN2")
    with db.read() as session:
        assert [n.hostname for n in cmdb.list_nodes(session)] == ["hv1", "hv2"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"hostname": "hv1", "interfaces": [{"mac": "zz:zz"}]},
            "interfaces.0.mac: 'zz:zz' is not a MAC",
        ),
        ({"hostname": "hv1", "interfaces": [{"mac": MAC1, "ip": "10.0.0.300"}]}, "is not an IP"),
        ({"hostname": "-bad-", "interfaces": [{"mac": MAC1}]}, "is not a host name"),
        ({"hostname": "hv1", "interfaces": [{"mac": MAC1, "vlan": 5000}]}, "VLAN 5000"),
        ({"hostname": "hv1", "interfaces": [{"mac": MAC1}, {"mac": MAC1}]}, "same MAC"),
        ({"hostname": "hv1"}, "at least one MAC or a serial"),
        ({"hostname": "hv1", "interfaces": [{"mac": MAC1}], "image": "hv"}, "IMAGE@CHANNEL"),
        ({"hostname": "hv1", "interfaces": [{"mac": MAC1}], "colour": "red"}, "colour"),
    ],
)
def test_bad_records_are_refused(db: Database, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        upsert(db, **fields)


def test_assignment_needs_existing_image_and_cluster(db: Database, store: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="image 'hv' does not exist"):
        upsert(db, hostname="hv1", interfaces=[{"mac": MAC1}], image="hv@stable")
    with pytest.raises(InvalidInput, match="cluster 'c1' does not exist"):
        upsert(db, hostname="hv1", interfaces=[{"mac": MAC1}], cluster="c1")
    factory.version(db, store, "hv", "1")
    upsert(db, hostname="hv1", interfaces=[{"mac": MAC1}], image="hv=1")
    assert show(db, "hv1")["image"] == "hv=1"
    upsert(db, hostname="hv1", interfaces=[{"mac": MAC1}], image="hv@testing")
    assert show(db, "hv1")["image"] == "hv@testing"


def test_patch_replaces_interfaces_and_renames(db: Database) -> None:
    upsert(db, hostname="hv1", interfaces=[{"mac": MAC1}, {"mac": MAC2}])
    with db.write() as session:
        record = parse(
            NodeRecord, {"hostname": "hv9", "interfaces": [{"mac": MAC2, "ip": "10.1.1.1"}]}
        )
        cmdb.patch_node(session, "hv1", record, "admin")
    view = show(db, "hv9")
    assert [(i["mac"], i["ip"]) for i in view["interfaces"]] == [(MAC2, "10.1.1.1")]
    with db.read() as session, pytest.raises(NotFound):
        cmdb.get_node(session, "hv1")


def test_bulk_import_is_all_or_nothing(db: Database) -> None:
    text = (
        "hostname,mac,ip,roles\n"
        "hv1,52:54:00:00:00:01,10.0.0.1,hypervisor;ceph-mon\n"
        "hv2,52:54:00:00:00:02,10.0.0.1,\n"
    )
    records = nodefile.parse_nodes(text, "csv")
    with (
        pytest.raises(
            InvalidInput, match=r"records 1 \(hv1\) and 2 \(hv2\) both list IP 10\.0\.0\.1"
        ),
        db.write() as session,
    ):
        cmdb.import_nodes(session, records, "t")
    with db.read() as session:
        assert cmdb.list_nodes(session) == []


def test_csv_rows_of_one_node_become_its_interfaces(db: Database) -> None:
    text = (
        "hostname,interface,mac,ip,vlan,serial,roles\n"
        "hv1,eno1,52:54:00:00:00:01,10.0.0.1,,SN1,hypervisor\n"
        "hv1,eno2,52:54:00:00:00:02,10.0.1.1,20,,\n"
    )
    with db.write() as session:
        cmdb.import_nodes(session, nodefile.parse_nodes(text, "csv"), "t")
    view = show(db, "hv1")
    assert [(i["name"], i["vlan"]) for i in view["interfaces"]] == [("eno1", None), ("eno2", 20)]
    assert view["serial"] == "SN1" and view["roles"] == ["hypervisor"]


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("hostname,mac,colour\nhv1,52:54:00:00:00:01,red\n", "csv", "unknown CSV column 'colour'"),
        ("hostname,mac\nhv1,nonsense\n", "csv", "line 2: interfaces.0.mac"),
        (
            "hostname,mac,serial\nhv1,52:54:00:00:00:01,A\nhv1,52:54:00:00:00:02,B\n",
            "csv",
            "line 3: serial",
        ),
        ("- hostname: hv1\n  interfaces: [{mac: 'x'}]\n", "yaml", "node 1: interfaces.0.mac"),
        ("{not json", "json", "not valid JSON"),
        ('{"nodes": 3}', "json", "expected a list"),
        ("[1]", "json", "node 1: expected an object"),
        ("hostname,hostname,mac\nhv1,hv2,52:54:00:00:00:01\n", "csv", "'hostname' appears twice"),
        # What YAML makes and a JSON column cannot hold.
        ("- {hostname: hv1, serial: S, facts: {at: 2024-01-01}}", "yaml", "date is not a JSON"),
        ("- {hostname: hv1, serial: S, facts: {b: !!binary aGk=}}", "yaml", "bytes is not a JSON"),
        ("- {hostname: hv1, serial: S, facts: {1: x}}", "yaml", "key 1 is not a string"),
        ("- &n {hostname: hv1, serial: S, facts: {me: *n}}", "yaml", "aliases expand to too many"),
        ("- {hostname: hv1, facts: {a: 2024-13-45}}", "yaml", "not valid YAML: month"),
        ('[{"hostname": "hv1", "facts": {"a": ' + "1" * 5000 + "}}]", "json", "not valid JSON"),
        ("[" * 5000 + "]" * 5000, "json", "nested too deeply"),
        ("[" * 5000 + "]" * 5000, "yaml", "nested too deeply"),
    ],
)
def test_bad_bulk_files_name_the_row(text: str, fmt: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        nodefile.parse_nodes(text, fmt)


def test_enlist_and_accept(db: Database) -> None:
    with db.write() as session:
        node = cmdb.enlist(session, MAC1, {"arch": "x86_64"}, uuid=None, serial="SN9")
        assert node.hostname == "node-525400000001"
    view = show(db, "node-525400000001")
    assert view["state"] == "new" and view["facts"]["enlisted_by"] == "boot"
    with db.write() as session:
        assert cmdb.set_state(session, "node-525400000001", "active", "admin")[1] is True
    with db.write() as session:
        assert cmdb.set_state(session, "node-525400000001", "active", "admin")[1] is False


def test_cluster_upsert_members_and_removal(db: Database) -> None:
    record = {
        "name": "c1",
        "domain": "C1.Example.org.",
        "networks": [{"name": "ring", "cidr": "10.10.0.0/24"}],
        "settings": {"stonith": False},
    }
    with db.write() as session:
        assert cmdb.upsert_cluster(session, parse(ClusterRecord, record), "t").created
    with db.write() as session:
        assert not cmdb.upsert_cluster(session, parse(ClusterRecord, record), "t").changed
    upsert(db, hostname="hv1", interfaces=[{"mac": MAC1}], cluster="c1")
    with db.read() as session:
        view = cluster_view(cmdb.get_cluster(session, "c1"))
    assert view.domain == "c1.example.org"
    assert view.members == ["hv1"]
    with db.write() as session, pytest.raises(Conflict, match="still has members: hv1"):
        cmdb.remove_cluster(session, "c1", "t")
    loose = {"name": "c2", "domain": "x.org", "networks": [{"name": "a", "cidr": "10.0.0.1/24"}]}
    assert parse(ClusterRecord, loose).networks[0].cidr == "10.0.0.0/24"
    wrong = {"name": "c2", "domain": "x.org", "networks": [{"name": "a", "cidr": "10.0.0.0/33"}]}
    with pytest.raises(InvalidInput, match="not a network in CIDR form"):
        parse(ClusterRecord, wrong)


def test_cluster_settings_merge_and_remove(db: Database) -> None:
    with db.write() as session:
        cmdb.upsert_cluster(
            session,
            parse(ClusterRecord, {"name": "c1", "domain": "c1.org", "settings": {"a": 1, "b": 2}}),
            "t",
        )
    with db.write() as session:
        cmdb.patch_cluster(session, "c1", "t", settings={"b": None, "c": [1, 2]})
    with db.read() as session:
        assert cmdb.get_cluster(session, "c1").settings == {"a": 1, "c": [1, 2]}


def nodeids(db: Database, cluster: str) -> dict[str, int | None]:
    with db.read() as session:
        return {n.hostname: n.corosync_nodeid for n in cmdb.list_nodes(session, cluster)}


def test_corosync_nodeids_are_allocated_once_and_kept(db: Database) -> None:
    with db.write() as session:
        for name in ("lab", "other"):
            cmdb.upsert_cluster(session, ClusterRecord(name=name, domain="x.example"), "t")
    # Joined in this order, not in hostname order.
    for number, hostname in enumerate(("hv-c", "hv-a", "hv-b"), start=1):
        upsert(
            db, hostname=hostname, interfaces=[{"mac": f"52:54:00:00:10:0{number}"}], cluster="lab"
        )
    assert nodeids(db, "lab") == {"hv-a": 2, "hv-b": 3, "hv-c": 1}
    with db.write() as session:
        cmdb.remove_node(session, "hv-a", "t")
    # The lowest free id goes to the next node that joins; the others keep theirs.
    upsert(db, hostname="hv-d", interfaces=[{"mac": "52:54:00:00:10:04"}], cluster="lab")
    assert nodeids(db, "lab") == {"hv-b": 3, "hv-c": 1, "hv-d": 2}
    # Changing anything but the cluster keeps the id; leaving gives it up.
    upsert(db, hostname="hv-b", interfaces=[{"mac": "52:54:00:00:10:03"}], roles=["ceph-mon"])
    assert nodeids(db, "lab")["hv-b"] == 3
    upsert(db, hostname="hv-c", interfaces=[{"mac": "52:54:00:00:10:01"}], cluster="other")
    assert nodeids(db, "other") == {"hv-c": 1}
    assert show(db, "hv-c")["corosync_nodeid"] == 1
    with db.write() as session:
        cmdb.patch_node(session, "hv-c", NodeRecord(cluster=None), "t")
    assert show(db, "hv-c")["corosync_nodeid"] is None


def test_a_bulk_import_allocates_distinct_nodeids(db: Database) -> None:
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="lab", domain="x.example"), "t")
    upsert(db, hostname="hv0", interfaces=[{"mac": "52:54:00:00:20:00"}], cluster="lab")
    records = [
        NodeRecord.model_validate(
            {
                "hostname": f"hv{n}",
                "interfaces": [{"mac": f"52:54:00:00:20:0{n}"}],
                "cluster": "lab",
            }
        )
        for n in range(1, 6)
    ]
    with db.write() as session:
        cmdb.import_nodes(session, records, "t")
    assert sorted(filter(None, nodeids(db, "lab").values())) == [1, 2, 3, 4, 5, 6]
