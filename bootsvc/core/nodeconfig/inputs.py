"""What a render reads from the CMDB: a node, its cluster and every member in
hostname order, as plain values, with a digest of the rows they came from so
that an unchanged cluster is recognised without rendering anything."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import Connection, Text, cast, select
from sqlalchemy.orm import Session

from bootsvc.errors import NotFound
from bootsvc.store.models import Cluster, ClusterNetwork, Interface, Node

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Iface:
    name: str
    mac: str
    ip: str | None
    vlan: int | None


@dataclass(frozen=True)
class ClusterSubnet:
    """One of a cluster's networks, as templates and the network plan see it."""

    name: str
    cidr: str
    gateway: str | None
    vlan: int | None

    @cached_property
    def _subnet(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)

    @property
    def prefixlen(self) -> int:
        return self._subnet.prefixlen

    def holds(self, ip: str) -> bool:
        """An address of the other family, or no address at all, is not held."""
        try:
            return ipaddress.ip_address(ip) in self._subnet
        except ValueError:
            return False


@dataclass(frozen=True, eq=False)
class Member:
    """A node as templates see it: the node rendered, or another member."""

    id: int
    hostname: str
    state: str
    roles: tuple[str, ...]
    nodeid: int | None
    facts: Mapping[str, Any]
    # In name order.
    interfaces: tuple[Iface, ...]

    @cached_property
    def ips(self) -> list[str]:
        return [iface.ip for iface in self.interfaces if iface.ip]

    @cached_property
    def main_address(self) -> str | None:
        """What /etc/hosts gives it: its first interface's IP, else the
        first address its facts give."""
        if self.ips:
            return self.ips[0]
        return next((ip for ip in self.fact_addresses().values() if isinstance(ip, str)), None)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def fact_addresses(self) -> Mapping[str, Any]:
        found = self.facts.get("addresses", {})
        return found if isinstance(found, Mapping) else {}

    def address_in(self, network: ClusterSubnet) -> str | None:
        """The address its facts give on `network` (`addresses: {network:
        IP}`, for virtual ports), else an interface's IP inside it."""
        chosen = self.fact_addresses().get(network.name)
        if isinstance(chosen, str):
            return chosen
        return next((ip for ip in self.ips if network.holds(ip)), None)


@dataclass(frozen=True)
class ClusterInfo:
    id: int
    name: str
    domain: str
    fsid: str
    settings: Mapping[str, Any] = field(hash=False, compare=False)
    networks: tuple[ClusterSubnet, ...] = ()

    def network(self, name: str) -> ClusterSubnet | None:
        return next((n for n in self.networks if n.name == name), None)


@dataclass(eq=False)
class Snapshot:
    """A node's cluster (or the node alone) as one read found it."""

    cluster: ClusterInfo | None
    # In hostname order.
    members: tuple[Member, ...]
    digest: str
    _shared: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.members)

    @cached_property
    def _by_hostname(self) -> dict[str, Member]:
        return {member.hostname: member for member in self.members}

    def member(self, hostname: str) -> Member | None:
        return self._by_hostname.get(hostname)

    @cached_property
    def hostnames(self) -> list[str]:
        return [member.hostname for member in self.members]

    @cached_property
    def roles(self) -> list[tuple[str, ...]]:
        return [member.roles for member in self.members]

    @cached_property
    def nodeids(self) -> list[int | None]:
        return [member.nodeid for member in self.members]

    @cached_property
    def main_addresses(self) -> list[str | None]:
        return [member.main_address for member in self.members]

    def addresses_in(self, network: ClusterSubnet) -> list[str | None]:
        """Each member's address on `network`."""
        return self.shared(
            ("addresses", network), lambda: [m.address_in(network) for m in self.members]
        )

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """What `compute` gives, computed once per snapshot: for what every
        member's render needs the same (corosync's node list, say)."""
        if key not in self._shared:
            self._shared[key] = compute()
        found: T = self._shared[key]
        return found


# JSON columns as the text the database holds: hashed as read, then parsed.
_NODES = (
    Node.hostname,
    Node.id,
    Node.state,
    cast(Node.roles, Text),
    Node.corosync_nodeid,
    cast(Node.facts, Text),
)
_INTERFACES = (Interface.node_id, Interface.name, Interface.mac, Interface.ip, Interface.vlan)
_NETWORKS = (ClusterNetwork.name, ClusterNetwork.cidr, ClusterNetwork.gateway, ClusterNetwork.vlan)
_CLUSTER = (
    Cluster.id,
    Cluster.name,
    Cluster.domain,
    Cluster.ceph_fsid,
    cast(Cluster.settings, Text),
)


def _sorted(connection: Connection, where: Any, *columns: Any) -> list[tuple[Any, ...]]:
    """Sorted here (by their first columns, which are unique) rather than by
    the database, whose collation may differ between SQLite and PostgreSQL."""
    return sorted(tuple(row) for row in connection.execute(select(*columns).where(where)))


def _members(connection: Connection, where: Any, digest: Any) -> tuple[Member, ...]:
    nodes = _sorted(connection, where, *_NODES)
    interfaces = _sorted(
        connection, Interface.node_id.in_(select(Node.id).where(where)), *_INTERFACES
    )
    digest.update(repr((nodes, interfaces)).encode())
    by_node: dict[int, list[Iface]] = {}
    for node_id, name, mac, ip, vlan in interfaces:
        by_node.setdefault(node_id, []).append(Iface(name, mac, ip, vlan))
    return tuple(
        Member(
            ident,
            hostname,
            state,
            tuple(json.loads(roles or "[]")),
            nodeid,
            json.loads(facts or "{}"),
            tuple(by_node.get(ident, ())),
        )
        for hostname, ident, state, roles, nodeid, facts in nodes
    )


def read(connection: Connection, hostname: str) -> Snapshot:
    """The node's cluster, or the node as its only member when it has none;
    NotFound for an unknown node."""
    row = connection.execute(select(Node.cluster_id).where(Node.hostname == hostname)).first()
    if row is None:
        raise NotFound(f"node {hostname!r} does not exist")
    if row.cluster_id is None:
        digest = hashlib.sha256()
        members = _members(connection, Node.hostname == hostname, digest)
        return Snapshot(None, members, digest.hexdigest())
    found = _sorted(connection, Cluster.id == row.cluster_id, *_CLUSTER)
    if not found:
        raise NotFound(f"cluster {row.cluster_id} does not exist")
    networks = _sorted(connection, ClusterNetwork.cluster_id == row.cluster_id, *_NETWORKS)
    digest = hashlib.sha256(repr((found, networks)).encode())
    members = _members(connection, Node.cluster_id == row.cluster_id, digest)
    ident, name, domain, fsid, settings = found[0]
    subnets = tuple(ClusterSubnet(*network) for network in networks)
    info = ClusterInfo(ident, name, domain, fsid, json.loads(settings or "{}"), subnets)
    return Snapshot(info, members, digest.hexdigest())


def load(session: Session, hostname: str) -> Snapshot:
    return read(session.connection(), hostname)
