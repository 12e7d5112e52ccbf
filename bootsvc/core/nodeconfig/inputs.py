"""What a render reads from the CMDB, as plain values: a node, its cluster,
and every member of that cluster in hostname order. All of it comes in
one statement as JSON text the database builds, a list per column (one
round trip, a json.loads per table), so a 1,000-node cluster loads in a few
milliseconds, and the digest is a hash of that text, so that an unchanged
input is recognised without rendering anything."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from bootsvc.errors import NotFound
from bootsvc.store import jsonrows
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


def _given_addresses(facts: Mapping[str, Any]) -> Mapping[str, Any]:
    # dict, not Mapping: facts come from JSON, and an ABC check costs more
    # than the rest of this at a thousand members.
    found = facts.get("addresses", {})
    return found if isinstance(found, dict) else {}


class Member:
    """A node as templates see it (itself, or another member of its cluster).
    Read-only by convention. A cold read builds one per member from the
    parsed rows, so it keeps its interface rows as they came and makes
    Iface tuples only when asked (the network plan asks for one node), and
    works out the address every render asks every member for."""

    __slots__ = (
        "_given",
        "_interface_rows",
        "facts",
        "hostname",
        "id",
        "ips",
        "main_address",
        "nodeid",
        "roles",
        "state",
    )

    def __init__(
        self,
        ident: int,
        hostname: str,
        state: str,
        roles: tuple[str, ...],
        nodeid: int | None,
        facts: Mapping[str, Any],
        interface_rows: Sequence[Sequence[Any]] = (),
    ) -> None:
        """`interface_rows`: (node id, name, MAC, IP, VLAN) in name order."""
        self.id = ident
        self.hostname = hostname
        self.state = state
        self.roles = roles
        self.nodeid = nodeid
        self.facts = facts
        self._interface_rows = interface_rows
        self._given = _given_addresses(facts)
        self.ips: list[str] = [row[3] for row in interface_rows if row[3]]
        # /etc/hosts gives the member its first interface's IP, else the
        # first address its facts give.
        self.main_address: str | None = (
            self.ips[0]
            if self.ips
            else next((ip for ip in self._given.values() if isinstance(ip, str)), None)
        )

    @property
    def interfaces(self) -> tuple[Iface, ...]:
        return tuple(Iface(row[1], row[2], row[3], row[4]) for row in self._interface_rows)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def fact_addresses(self) -> Mapping[str, Any]:
        return self._given

    def address_in(self, network: Network) -> str | None:
        """The member's address on `network`: an interface's IP inside it, or
        the one its facts give (`addresses: {network: IP}`) for virtual ports."""
        given = self._given.get(network.name)
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


def _member_statements(
    condition: Any,
) -> tuple[Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    nodes = (
        select(Node.id, Node.hostname, Node.state, Node.roles, Node.corosync_nodeid, Node.facts)
        .where(condition)
        .order_by(Node.hostname)
    )
    interfaces = (
        select(Interface.node_id, Interface.name, Interface.mac, Interface.ip, Interface.vlan)
        # In no order: _members sorts them (ordering them in the query took
        # SQLite 60 % longer, for rows that must be sorted here anyway).
        .where(Interface.node_id.in_(select(Node.id).where(condition)))
    )
    return nodes, interfaces


def _hostname(member: Member) -> str:
    return member.hostname


def _members(nodes: list[list[Any]], interfaces: list[list[Any]]) -> tuple[Member, ...]:
    """Members from json_columns lists, in hostname order, their interfaces
    in name order. The order the rows come in is a fact of the database's
    plan and collation, not a promise; sorting here makes it the same on
    both (and costs little on rows that come sorted)."""
    by_node: dict[int, list[tuple[Any, ...]]] = {}
    # (node id, name) is unique, so the sort never compares the rest.
    for row in sorted(zip(*interfaces, strict=True)):
        by_node.setdefault(row[0], []).append(row)
    members = [
        Member(
            ident, hostname, state, tuple(roles or ()), nodeid, facts or {}, by_node.get(ident, ())
        )
        for ident, hostname, state, roles, nodeid, facts in zip(*nodes, strict=True)
    ]
    members.sort(key=_hostname)
    return tuple(members)


def _digest(texts: Sequence[str]) -> str:
    """Of the text as read: the same database content, the same digest."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def cluster_of(session: Session, hostname: str) -> int | None:
    """The id of the node's cluster; NotFound for an unknown node."""
    # Core statements on the session's connection: the ORM's execution path
    # costs more than these one-row queries.
    row = (
        session.connection()
        .execute(select(Node.cluster_id).where(Node.hostname == hostname))
        .first()
    )
    if row is None:
        raise NotFound(f"node {hostname!r} does not exist")
    cluster_id: int | None = row.cluster_id
    return cluster_id


# The cluster, its networks and its members with their interfaces: one
# round trip, four JSON texts.
_CLUSTER = jsonrows.columns(
    select(Cluster.id, Cluster.name, Cluster.domain, Cluster.ceph_fsid, Cluster.settings).where(
        Cluster.id == bindparam("cluster_id")
    ),
    select(ClusterNetwork.name, ClusterNetwork.cidr, ClusterNetwork.gateway, ClusterNetwork.vlan)
    .where(ClusterNetwork.cluster_id == bindparam("cluster_id"))
    .order_by(ClusterNetwork.name),
    *_member_statements(Node.cluster_id == bindparam("cluster_id")),
)
_SINGLE = jsonrows.columns(*_member_statements(Node.hostname == bindparam("hostname")))


def load_cluster(session: Session, cluster_id: int) -> Snapshot:
    texts = jsonrows.texts(session.connection(), _CLUSTER, cluster_id=cluster_id)
    found, networks, nodes, interfaces = (json.loads(text) for text in texts)
    rows = list(zip(*found, strict=True))
    if not rows:
        raise NotFound(f"cluster {cluster_id} does not exist")
    ident, name, domain, fsid, settings = rows[0]
    cluster = ClusterInfo(
        id=ident,
        name=name,
        domain=domain,
        fsid=fsid,
        settings=settings or {},
        # A cluster's network names are unique: the sort compares names only.
        networks=tuple(Network(*row) for row in sorted(zip(*networks, strict=True))),
    )
    return Snapshot(cluster, _members(nodes, interfaces), _digest(texts))


def load_single(session: Session, hostname: str) -> Snapshot:
    """A node without a cluster: it is its only member."""
    texts = jsonrows.texts(session.connection(), _SINGLE, hostname=hostname)
    nodes, interfaces = (json.loads(text) for text in texts)
    return Snapshot(None, _members(nodes, interfaces), _digest(texts))


def load(session: Session, hostname: str) -> Snapshot:
    cluster_id = cluster_of(session, hostname)
    if cluster_id is None:
        return load_single(session, hostname)
    return load_cluster(session, cluster_id)
