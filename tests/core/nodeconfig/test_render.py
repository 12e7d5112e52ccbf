"""What a node of a three-node and of a two-node cluster gets, checked
against the CMDB. The files are also checked by the real tools in
test_tools.py."""

from __future__ import annotations

import re
from pathlib import Path

from bootsvc.core.boot import agentfiles
from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord
from bootsvc.core.render import builtin_template_dir
from bootsvc.store.db import Database
from tests.core.nodeconfig.render import rendered, text
from tests.support import factory, nodeclusters

NETWORKD = "/etc/systemd/network/05-bootsvc-"
WANTS = "/etc/systemd/system/multi-user.target.wants/"


def test_three_node_cluster(db: Database) -> None:
    nodeclusters.three_node_cluster(db)
    found = rendered(db, "hv2")
    assert text(found, "/etc/hostname") == "hv2\n"
    hosts = [line for line in text(found, "/etc/hosts").splitlines() if line.startswith("10.")]
    assert hosts == [
        "10.0.0.11\thv1.lab.example.org hv1",
        "10.0.0.12\thv2.lab.example.org hv2",
        "10.0.0.13\thv3.lab.example.org hv3",
    ]
    corosync = text(found, "/etc/corosync/corosync.conf")
    nodes = re.findall(r"name: (\S+)\n\s+nodeid: (\d+)\n\s+ring0_addr: (\S+)", corosync)
    assert nodes == [
        ("hv1", "1", "10.30.0.11"),
        ("hv2", "2", "10.30.0.12"),
        ("hv3", "3", "10.30.0.13"),
    ]
    assert "transport: knet" in corosync and "cluster_name: lab" in corosync
    assert "two_node" not in corosync
    ceph = text(found, "/etc/ceph/ceph.conf")
    assert (
        "mon_host = "
        + " ".join(f"[v2:10.20.0.1{n}:3300/0,v1:10.20.0.1{n}:6789/0]" for n in (1, 2, 3))
        in ceph
    )
    assert "public_network = 10.20.0.0/24" in ceph and "cluster_network = 10.30.0.0/24" in ceph
    assert "[osd]\nosd_memory_target = 4294967296" in ceph
    assert found[WANTS + "bootsvc-ovs-layout.service"].link == (
        "/etc/systemd/system/bootsvc-ovs-layout.service"
    )
    assert found["/usr/local/lib/bootsvc/ovs-layout"].mode == 0o755
    assert found["/root/.ssh/authorized_keys"].mode == 0o600
    assert nodeclusters.ED25519_KEY in text(found, "/root/.ssh/authorized_keys")
    assert "server ntp1.lab.example.org iburst" in text(found, "/etc/chrony/chrony.conf")
    env = text(found, "/etc/bootsvc/boot.env")
    assert "BOOTSVC_IMAGE=hv\n" in env and "BOOTSVC_VERSION=7\n" in env


def test_three_node_network(db: Database) -> None:
    nodeclusters.three_node_cluster(db)
    found = rendered(db, "hv3")
    networkd = sorted(path.removeprefix(NETWORKD) for path in found if path.startswith(NETWORKD))
    assert networkd == sorted(
        ["bond0.netdev", "backup.netdev"]
        + [f"{name}.network" for name in ("bond0", "backup", "mgmt", "storage", "ring")]
        + [f"eth{port}.network" for port in range(5)]
    )
    eth0 = text(found, NETWORKD + "eth0.network")
    assert f"PermanentMACAddress={nodeclusters.mac(3, 0)}" in eth0 and "Bond=bond0" in eth0
    assert "VLAN=backup" in text(found, NETWORKD + "eth4.network")
    assert "Id=40" in text(found, NETWORKD + "backup.netdev")
    mgmt = text(found, NETWORKD + "mgmt.network")
    assert "Address=10.0.0.13/24" in mgmt and "Gateway=10.0.0.1" in mgmt
    assert "Address=10.30.0.13/24" in text(found, NETWORKD + "ring.network")
    layout = text(found, "/usr/local/lib/bootsvc/ovs-layout")
    assert "--may-exist add-bond br-ring ringbond eth2 eth3" in layout
    assert "set port storage tag=20" in layout and "clear port mgmt tag" in layout
    unit = text(found, "/etc/systemd/system/bootsvc-ovs-layout.service")
    assert "Before=libvirtd.service corosync.service" in unit


def test_two_node_cluster(db: Database) -> None:
    nodeclusters.two_node_cluster(db)
    found = rendered(db, "pair1")
    corosync = text(found, "/etc/corosync/corosync.conf")
    assert "two_node: 1" in corosync and "token: 5000" in corosync
    assert re.findall(r"ring0_addr: (\S+)", corosync) == ["10.31.0.11", "10.31.0.12"]
    properties = text(found, "/usr/local/lib/bootsvc/pacemaker-properties")
    assert "--name stonith-enabled --update true" in properties
    assert "--name stonith-timeout --update 90s" in properties
    assert not any(path.startswith(("/etc/ceph", "/etc/chrony", "/root")) for path in found)
    # eth0 keeps its management address; the ring moved onto its bridge.
    assert "Address=10.1.0.11/24" in text(found, NETWORKD + "eth0.network")
    assert "Address=10.31.0.11/24" in text(found, NETWORKD + "ring.network")
    assert not re.search("^Address=", text(found, NETWORKD + "eth1.network"), re.MULTILINE)


def test_node_without_cluster_gets_its_name_and_the_report_unit(db: Database) -> None:
    factory.node(db, hostname="lonely", interfaces=[{"mac": "52:54:00:99:00:01"}])
    found = rendered(db, "lonely")
    assert text(found, "/etc/hostname") == "lonely\n"
    assert "127.0.1.1\tlonely" in text(found, "/etc/hosts")
    own = [
        "/etc/hostname",
        "/etc/hosts",
        "/etc/bootsvc/boot.env",
        "/usr/local/lib/bootsvc/report-up",
        "/etc/systemd/system/bootsvc-up.service",
        WANTS + "bootsvc-up.service",
    ]
    # Every node gets the rollout agent too, as its module places it.
    agent = [file.target for file in agentfiles.FILES]
    assert sorted(found) == sorted(own + agent)
    assert found[agentfiles.AGENT].mode == 0o755
    assert "ExecStart=/usr/local/sbin/bootsvc-agent check" in text(
        found, "/etc/systemd/system/bootsvc-agent.service"
    )


# The member loops as the built-in templates had them before they printed
# the lists bootsvc makes once per cluster: a site template that still loops
# must get the same files.
LOOPING_HOSTS = """\
{% for member in members %}
{% if member.main_address %}
{{ member.main_address }}	{{ member.hostname }}.{{ cluster.domain }} {{ member.hostname }}
{% else %}
# {{ member.hostname }}: no address in the CMDB
{% endif %}
{% endfor %}
"""
LOOPING_NODELIST = """\
nodelist {
{% for member in corosync.nodes %}
    node {
        name: {{ member.name }}
        nodeid: {{ member.nodeid }}
        ring0_addr: {{ member.ring0_addr }}
    }
{% endfor %}
}
"""


def test_site_templates_that_loop_over_members_get_the_same_files(
    db: Database, tmp_path: Path
) -> None:
    builtin = builtin_template_dir() / "overlay/etc"
    hosts = (builtin / "hosts.j2").read_text()
    corosync = (builtin / "corosync/corosync.conf.j2").read_text()
    assert "{{ member_hosts }}" in hosts and "{{ corosync.nodelist }}" in corosync
    site = tmp_path / "overlay/etc"
    (site / "corosync").mkdir(parents=True)
    (site / "hosts.j2").write_text(hosts.replace("{{ member_hosts }}\n", LOOPING_HOSTS))
    nodelist = re.search(r"nodelist \{\n.*?\n\}\n", corosync, re.S)
    assert nodelist is not None
    (site / "corosync/corosync.conf.j2").write_text(corosync.replace(nodelist[0], LOOPING_NODELIST))
    nodeclusters.three_node_cluster(db)
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="bare", domain="bare.test"), factory.ACTOR)
    factory.node(db, hostname="b1", cluster="bare", interfaces=[{"mac": "52:54:00:e0:00:01"}])
    factory.node(
        db,
        hostname="b2",
        cluster="bare",
        interfaces=[{"mac": "52:54:00:e0:00:02", "ip": "10.9.0.2"}],
    )
    for hostname, paths in (
        ("hv2", ["/etc/hosts", "/etc/corosync/corosync.conf"]),
        ("b1", ["/etc/hosts"]),
    ):
        ours, theirs = rendered(db, hostname), rendered(db, hostname, tmp_path)
        for path in paths:
            assert text(theirs, path) == text(ours, path)
    bare = text(rendered(db, "b1"), "/etc/hosts")
    assert bare.endswith("# b1: no address in the CMDB\n10.9.0.2\tb2.bare.test b2\n")
    assert "nodeid: 3\n        ring0_addr: 10.30.0.13\n    }\n}\n" in text(
        rendered(db, "hv2"), "/etc/corosync/corosync.conf"
    )
