"""Clusters for the per-node configuration tests, made through the CMDB as
an integration would: a three-node cluster with Ceph on Open vSwitch (a
Linux bond and an OVS bond as uplinks, tagged internal ports, a VLAN on a
plain link) and a two-node cluster with only corosync."""

from __future__ import annotations

from typing import Any

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord
from bootsvc.store.db import Database
from tests.support import factory

ED25519_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIwPct9PWX6GYWwdKA4fA8OCG/M0SkItH9tb7NZ+USVj admin@lab"
)

THREE_NETWORKS = [
    {"name": "mgmt", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1"},
    {"name": "storage", "cidr": "10.20.0.0/24", "vlan": 20},
    {"name": "ring", "cidr": "10.30.0.0/24", "vlan": 30},
    {"name": "backup", "cidr": "10.40.0.0/24", "vlan": 40},
]

THREE_SETTINGS: dict[str, Any] = {
    "time": {"servers": ["ntp1.lab.example.org", "192.0.2.123"]},
    "ssh": {"authorized_keys": [ED25519_KEY]},
    "pacemaker": {
        "stonith_enabled": False,
        "no_quorum_policy": "stop",
        "properties": {"cluster-recheck-interval": "5min"},
        "resource_defaults": {"resource-stickiness": 100},
    },
    "ceph": {
        "public_network": "storage",
        "cluster_network": "ring",
        "overrides": {
            "global": {"osd_pool_default_size": 3},
            "osd": {"osd_memory_target": 4 << 30},
        },
    },
    "network": {
        "bonds": {"bond0": {"interfaces": ["eth0", "eth1"], "mode": "802.3ad"}},
        "bridges": {
            "br-ex": {"ports": ["bond0"], "networks": ["mgmt", "storage"]},
            "br-ring": {
                "bonds": {"ringbond": {"interfaces": ["eth2", "eth3"], "mode": "balance-slb"}},
                "networks": ["ring"],
            },
        },
        "links": {"eth4": ["backup"]},
    },
}

THREE_ROLES = {
    "hv1": ["ceph-admin", "ceph-mon", "ceph-osd", "hypervisor"],
    "hv2": ["ceph-mon", "ceph-osd", "hypervisor"],
    "hv3": ["ceph-mon", "hypervisor"],
}


def mac(number: int, port: int) -> str:
    return f"52:54:00:c0:{number:02x}:{port:02x}"


def _three_node(number: int) -> dict[str, Any]:
    hostname = f"hv{number}"
    interfaces: list[dict[str, Any]] = [
        {"name": f"eth{port}", "mac": mac(number, port)} for port in range(5)
    ]
    interfaces[0]["ip"] = f"10.0.0.{10 + number}"
    return {
        "hostname": hostname,
        "cluster": "lab",
        "roles": THREE_ROLES[hostname],
        "interfaces": interfaces,
        "facts": {
            "addresses": {
                "storage": f"10.20.0.{10 + number}",
                "ring": f"10.30.0.{10 + number}",
                "backup": f"10.40.0.{10 + number}",
            },
            "state": {"device": "/dev/sda"},
            "ceph": {"osd_devices": ["/dev/sdb", "/dev/sdc"]},
        },
    }


def three_node_cluster(db: Database) -> None:
    with db.write() as session:
        cmdb.upsert_cluster(
            session,
            ClusterRecord.model_validate(
                {
                    "name": "lab",
                    "domain": "lab.example.org",
                    "networks": THREE_NETWORKS,
                    "settings": THREE_SETTINGS,
                }
            ),
            factory.ACTOR,
        )
        for number in (1, 2, 3):
            cmdb.upsert_node(session, NodeRecord.model_validate(_three_node(number)), factory.ACTOR)


def two_node_cluster(db: Database) -> None:
    """The ring on its own bridge over eth1; the management address stays
    on eth0, which the layout leaves alone."""
    with db.write() as session:
        cmdb.upsert_cluster(
            session,
            ClusterRecord.model_validate(
                {
                    "name": "pair",
                    "domain": "pair.example.org",
                    "networks": [
                        {"name": "mgmt", "cidr": "10.1.0.0/24", "gateway": "10.1.0.1"},
                        {"name": "ring", "cidr": "10.31.0.0/24"},
                    ],
                    "settings": {
                        "pacemaker": {"stonith_enabled": True, "stonith_timeout": "90s"},
                        "corosync": {"token_ms": 5000},
                        "network": {
                            "bridges": {"br-ring": {"ports": ["eth1"], "networks": ["ring"]}}
                        },
                    },
                }
            ),
            factory.ACTOR,
        )
        for number in (1, 2):
            record = {
                "hostname": f"pair{number}",
                "cluster": "pair",
                "roles": ["hypervisor"],
                "interfaces": [
                    {"name": "eth0", "mac": mac(0x10 + number, 0), "ip": f"10.1.0.{10 + number}"},
                    {"name": "eth1", "mac": mac(0x10 + number, 1), "ip": f"10.31.0.{10 + number}"},
                ],
            }
            cmdb.upsert_node(session, NodeRecord.model_validate(record), factory.ACTOR)
