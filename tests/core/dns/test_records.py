"""The fleet's DNS records, built from a CMDB filled through bootsvc.core.cmdb.cmdb."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSLabel

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord
from bootsvc.core.dns.records import DnsSite, FleetZones, build, reverse_zones
from bootsvc.net.dns import ZoneSet, name_key
from bootsvc.store.db import Database

SITE = DnsSite(server="10.20.0.1", http_port=8080, tftp_port=69, dns_port=53, ttl=30)


def lookup(zones: ZoneSet, name: str, qtype: str) -> tuple[int, list[str]]:
    answer = zones.lookup(name_key(DNSLabel(name)), getattr(QTYPE, qtype))
    assert answer is not None, f"{name} is in no zone"
    return answer.rcode, [f"{QTYPE[rr.rtype]} {rr.rdata}" for rr in answer.answer]


def fill(db: Database, cluster: dict[str, Any], *nodes: dict[str, Any]) -> None:
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(**cluster), "test")
        for node in nodes:
            cmdb.upsert_node(session, NodeRecord(**node), "test")


def fleet(db: Database, site: DnsSite = SITE, serial: int = 42) -> FleetZones:
    with db.read() as session:
        return build(session, site, serial)


LAB = {
    "name": "lab",
    "domain": "Lab.Example",
    "networks": [
        {"name": "mgmt", "cidr": "10.20.0.0/22"},
        {"name": "v6", "cidr": "fd00:20::/64"},
    ],
}


def node(hostname: str, *addresses: str, **fields: Any) -> dict[str, Any]:
    interfaces = [
        {"name": f"eth{i}" if i == 0 else f"eth0.{100 + i}", "mac": f"52:54:00:00:{i:02x}:{n:02x}"}
        | ({"ip": address} if address else {})
        for n in [sum(map(ord, hostname)) % 256]
        for i, address in enumerate(addresses)
    ]
    return {"hostname": hostname, "cluster": "lab", "interfaces": interfaces, **fields}


def test_every_interface_address_with_ptr(db: Database) -> None:
    fill(db, LAB, node("node1", "10.20.0.11", "fd00:20::11", ""))
    zones = fleet(db).zones
    assert lookup(zones, "node1.lab.example", "A") == (RCODE.NOERROR, ["A 10.20.0.11"])
    assert lookup(zones, "NODE1.lab.example", "AAAA") == (RCODE.NOERROR, ["AAAA fd00:20::11"])
    assert lookup(zones, "eth0.node1.lab.example", "A")[1] == ["A 10.20.0.11"]
    assert lookup(zones, "eth0-101.node1.lab.example", "AAAA")[1] == ["AAAA fd00:20::11"]
    assert lookup(zones, "eth0-102.node1.lab.example", "A")[0] == RCODE.NXDOMAIN
    for address in ["10.20.0.11", "fd00:20::11"]:
        reverse = ipaddress.ip_address(address).reverse_pointer
        assert lookup(zones, reverse, "PTR") == (RCODE.NOERROR, ["PTR node1.lab.example."])


def test_only_cluster_members_are_published(db: Database) -> None:
    fill(db, LAB, node("node1", "10.20.0.11"), {**node("stray", "10.20.0.99"), "cluster": None})
    zones = fleet(db).zones
    assert lookup(zones, "stray.lab.example", "A")[0] == RCODE.NXDOMAIN
    assert lookup(zones, "99.0.20.10.in-addr.arpa", "PTR")[0] == RCODE.NXDOMAIN


def test_soa_ns_and_bootsvc_services(db: Database) -> None:
    fill(db, LAB, node("node1", "10.20.0.11"))
    zones = fleet(db, serial=42).zones
    assert lookup(zones, "lab.example", "SOA")[1] == [
        "SOA bootsvc.lab.example. hostmaster.lab.example. 42 3600 600 86400 10"
    ]
    assert lookup(zones, "lab.example", "NS")[1] == ["NS bootsvc.lab.example."]
    assert lookup(zones, "bootsvc.lab.example", "A")[1] == ["A 10.20.0.1"]
    assert lookup(zones, "_http._tcp.lab.example", "SRV")[1] == [
        "SRV 0 0 8080 bootsvc.lab.example."
    ]
    assert lookup(zones, "_tftp._udp.lab.example", "SRV")[1] == ["SRV 0 0 69 bootsvc.lab.example."]
    for proto in ["udp", "tcp"]:
        assert lookup(zones, f"_domain._{proto}.lab.example", "SRV")[1] == [
            "SRV 0 0 53 bootsvc.lab.example."
        ]
    assert lookup(zones, "1.0.20.10.in-addr.arpa", "PTR")[0] == RCODE.NXDOMAIN
    assert lookup(zones, "0.20.10.in-addr.arpa", "SOA")[1] == [
        "SOA bootsvc.lab.example. hostmaster.lab.example. 42 3600 600 86400 10"
    ]


def test_a_server_known_by_name_is_the_target_itself(db: Database) -> None:
    fill(db, LAB)
    site = DnsSite(server="boot.site.example", http_port=443, http_scheme="https")
    zones = fleet(db, site).zones
    assert lookup(zones, "_https._tcp.lab.example", "SRV")[1] == ["SRV 0 0 443 boot.site.example."]
    assert lookup(zones, "_tftp._udp.lab.example", "SRV")[0] == RCODE.NXDOMAIN
    assert lookup(zones, "bootsvc.lab.example", "A")[0] == RCODE.NXDOMAIN


def test_ceph_monitors_by_srv(db: Database) -> None:
    fill(
        db,
        LAB,
        node("mon1", "10.20.0.21", roles=["ceph-mon", "hypervisor"]),
        node("mon2", "10.20.0.22", roles=["ceph-mon"]),
        node("mon3", "", roles=["ceph-mon"]),
        node("osd1", "10.20.0.31", roles=["ceph-osd"]),
    )
    assert lookup(fleet(db).zones, "_ceph-mon._tcp.lab.example", "SRV")[1] == [
        "SRV 20 0 6789 mon1.lab.example.",
        "SRV 10 0 3300 mon1.lab.example.",
        "SRV 20 0 6789 mon2.lab.example.",
        "SRV 10 0 3300 mon2.lab.example.",
    ]


def test_cnames_from_node_facts_and_cluster_settings(db: Database) -> None:
    cnames = {
        "www": "node1",
        "mirror": "deb.debian.org.",
        "node2": "node1",
        "_tcp": "node1",
        "elsewhere.example.org.": "node1",
        "bad name": "node1",
        "fine": "not a name",
    }
    fill(
        db,
        {**LAB, "settings": {"dns_cnames": cnames}},
        node("node1", "10.20.0.11", facts={"dns_aliases": ["mon-a", "api.svc"]}),
        node("node2", "10.20.0.12", facts={"dns_aliases": "storage"}),
    )
    built = fleet(db)
    assert lookup(built.zones, "www.lab.example", "A")[1] == [
        "CNAME node1.lab.example.",
        "A 10.20.0.11",
    ]
    assert lookup(built.zones, "mon-a.lab.example", "A")[1][0] == "CNAME node1.lab.example."
    assert lookup(built.zones, "api.svc.lab.example", "A")[1][0] == "CNAME node1.lab.example."
    assert lookup(built.zones, "storage.lab.example", "A")[1][0] == "CNAME node2.lab.example."
    assert lookup(built.zones, "mirror.lab.example", "A")[1] == ["CNAME deb.debian.org."]
    assert lookup(built.zones, "node2.lab.example", "A")[1] == ["A 10.20.0.12"]
    assert len(built.skipped) == 5
    assert any("_tcp.lab.example already has records" in note for note in built.skipped)
    assert any("outside the fleet's zones" in note for note in built.skipped)


def test_addresses_outside_every_network_are_zones_of_their_own(db: Database) -> None:
    fill(db, LAB, node("node1", "192.168.7.10", "2001:db8:5::10"))
    zones = fleet(db).zones
    for address in ["192.168.7.10", "2001:db8:5::10"]:
        reverse = ipaddress.ip_address(address).reverse_pointer
        assert lookup(zones, reverse, "PTR")[1] == ["PTR node1.lab.example."]
        assert lookup(zones, reverse, "SOA")[0] == RCODE.NOERROR
    assert zones.lookup(name_key(DNSLabel("11.7.168.192.in-addr.arpa")), QTYPE.PTR) is None


@pytest.mark.parametrize(
    ("network", "zones"),
    [
        ("10.20.0.0/16", ["20.10.in-addr.arpa"]),
        ("10.20.4.0/23", ["4.20.10.in-addr.arpa", "5.20.10.in-addr.arpa"]),
        ("10.20.30.64/26", [f"{i}.30.20.10.in-addr.arpa" for i in range(64, 128)]),
        ("fd00:20::/62", [f"{i}.0.0.0.0.0.0.0.0.2.0.0.0.0.d.f.ip6.arpa" for i in range(4)]),
    ],
)
def test_reverse_zones_stay_inside_the_network(network: str, zones: list[str]) -> None:
    assert reverse_zones(ipaddress.ip_network(network)) == zones


def test_a_node_cannot_take_bootsvcs_own_name(db: Database) -> None:
    fill(db, {**LAB, "settings": {"dns_cnames": ["not", "a", "map"]}}, node("bootsvc", "10.20.0.5"))
    built = fleet(db)
    assert lookup(built.zones, "bootsvc.lab.example", "A")[1] == ["A 10.20.0.1"]
    assert lookup(built.zones, "5.0.20.10.in-addr.arpa", "PTR")[0] == RCODE.NXDOMAIN
    assert sorted(built.skipped) == [
        "bootsvc.lab.example: the name is bootsvc's own",
        "cluster lab dns_cnames: not a map",
    ]
