"""What a render reads from the CMDB, as plain frozen values: a node, its
cluster, and every member of that cluster in hostname order. Loaded with a
few column queries (no ORM objects), so a 1,000-node cluster loads in
milliseconds, and digested, so that an unchanged input is recognised
without rendering anything."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.errors import NotFound
from bootsvc.store.models import Cluster, ClusterNetwork, Interface, Node


class Iface(NamedTuple):
    name: str
    mac: str
    ip: str | None
    vlan: int | None


@dataclass(frozen=True)
class Network:
    name: str
    cidr: str
    gateway: str | None
    vlan: int | None

    @cached_property
    def _network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)

    @property
    def prefixlen(self) -> int:
        return self._network.prefixlen

    def holds(self, ip: str) -> bool:
        try:
            return ipaddress.ip_address(ip) in self._network
        except ValueError:
            return False


@dataclass(eq=False)
class Member:
    """A node as templates see it (itself, or another member of its cluster).
    Read-only by convention: a frozen dataclass takes several times longer
    to build, and a snapshot builds one per member."""

    id: int
    hostname: str
    state: str
    roles: tuple[str, ...]
    nodeid: int | None
    interfaces: tuple[Iface, ...]
    facts: Mapping[str, Any]

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @cached_property
    def ips(self) -> list[str]:
        return [item.ip for item in self.interfaces if item.ip]

    @cached_property
    def main_address(self) -> str | None:
        """The address /etc/hosts gives the member: its first interface's IP,
        else the first address its facts give."""
        given = [ip for ip in self.fact_addresses().values() if isinstance(ip, str)]
        return next(iter(self.ips + given), None)

    def fact_addresses(self) -> Mapping[str, Any]:
        found = self.facts.get("addresses", {})
        return found if isinstance(found, Mapping) else {}

    def address_in(self, network: Network) -> str | None:
        """The member's address on `network`: an interface's IP inside it, or
        the one its facts give (`addresses: {network: IP}`) for virtual ports."""
        given = self.fact_addresses().get(network.name)
        if isinstance(given, str):
            return given
        return next((ip for ip in self.ips if network.holds(ip)), None)


@dataclass(frozen=True)
class ClusterInfo:
    id: int
    name: str
    domain: str
    fsid: str
    settings: Mapping[str, Any] = field(hash=False, compare=False)
    networks: tuple[Network, ...] = ()

    def network(self, name: str) -> Network | None:
        return next((n for n in self.networks if n.name == name), None)


@dataclass(frozen=True)
class Snapshot:
    """One cluster (or one node without a cluster) as of one read."""

    cluster: ClusterInfo | None
    members: tuple[Member, ...]
    digest: str
    # What helpers work out once per snapshot rather than once per member
    # rendered (corosync's node list, say).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False)

    def member(self, hostname: str) -> Member | None:
        return next((m for m in self.members if m.hostname == hostname), None)


def _digest(*rows: Any) -> str:
    """Of the rows as read: the same database content, the same digest."""
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _members(session: Session, condition: Any) -> tuple[tuple[Member, ...], str]:
    """The members, and a digest of what they were made from (as plain
    tuples: going through SQLAlchemy's Row again would cost more than the
    rest of the load)."""
    # The session's connection: a Core statement on it skips the ORM's
    # result machinery, which costs more than the rows here.
    connection = session.connection()
    rows = connection.execute(
        select(
            Node.id,
            Node.hostname,
            Node.state,
            Node.roles,
            Node.corosync_nodeid,
            Node.facts,
        )
        .where(condition)
        .order_by(Node.hostname)
    ).all()
    items = connection.execute(
        select(Interface.node_id, Interface.name, Interface.mac, Interface.ip, Interface.vlan)
        .join(Node, Node.id == Interface.node_id)
        .where(condition)
        .order_by(Interface.node_id, Interface.name)
    ).all()
    interfaces: dict[int, list[Iface]] = {row[0]: [] for row in rows}
    seen: list[tuple[Any, ...]] = []
    for node_id, name, mac, ip, vlan in items:
        interfaces[node_id].append(Iface(name, mac, ip, vlan))
        seen.append((node_id, name, mac, ip, vlan))
    members = []
    for node_id, hostname, state, roles, nodeid, facts in rows:
        members.append(
            Member(
                id=node_id,
                hostname=hostname,
                state=state,
                roles=tuple(roles or ()),
                nodeid=nodeid,
                interfaces=tuple(interfaces[node_id]),
                facts=facts or {},
            )
        )
        seen.append((node_id, hostname, state, roles, nodeid, facts))
    return tuple(members), _digest(seen)


def cluster_of(session: Session, hostname: str) -> int | None:
    """The id of the node's cluster; NotFound for an unknown node."""
    row = session.execute(select(Node.cluster_id).where(Node.hostname == hostname)).first()
    if row is None:
        raise NotFound(f"node {hostname!r} does not exist")
    cluster_id: int | None = row.cluster_id
    return cluster_id


def load_cluster(session: Session, cluster_id: int) -> Snapshot:
    row = session.execute(
        select(Cluster.id, Cluster.name, Cluster.domain, Cluster.ceph_fsid, Cluster.settings).where(
            Cluster.id == cluster_id
        )
    ).one()
    networks = tuple(
        Network(n.name, n.cidr, n.gateway, n.vlan)
        for n in session.execute(
            select(
                ClusterNetwork.name,
                ClusterNetwork.cidr,
                ClusterNetwork.gateway,
                ClusterNetwork.vlan,
            )
            .where(ClusterNetwork.cluster_id == cluster_id)
            .order_by(ClusterNetwork.name)
        )
    )
    cluster = ClusterInfo(
        id=row.id,
        name=row.name,
        domain=row.domain,
        fsid=row.ceph_fsid,
        settings=dict(row.settings or {}),
        networks=networks,
    )
    members, digest = _members(session, Node.cluster_id == cluster_id)
    return Snapshot(cluster, members, _digest(tuple(row), networks, digest))


def load_single(session: Session, hostname: str) -> Snapshot:
    """A node without a cluster: it is its only member."""
    members, digest = _members(session, Node.hostname == hostname)
    return Snapshot(None, members, digest)


def load(session: Session, hostname: str) -> Snapshot:
    cluster_id = cluster_of(session, hostname)
    if cluster_id is None:
        return load_single(session, hostname)
    return load_cluster(session, cluster_id)
