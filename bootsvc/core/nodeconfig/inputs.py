"""What a render reads from the CMDB, as plain values: a node, its cluster,
and every member of that cluster in hostname order. All of it comes in
one statement as JSON text the database builds, a list per column (one
round trip, a json.loads per table), so a 1,000-node cluster loads in a few
milliseconds, and the digest is a hash of that text, so that an unchanged
input is recognised without rendering anything."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, overload

from sqlalchemy import Dialect, Select, bindparam, select
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


def _main_address(ips: Sequence[str], given: Mapping[str, Any]) -> str | None:
    """What /etc/hosts gives a member: its first interface's IP, else the
    first address its facts give."""
    if ips:
        return ips[0]
    return next((ip for ip in given.values() if isinstance(ip, str)), None)


def _address_in(network: Network, ips: Sequence[str], given: Mapping[str, Any]) -> str | None:
    """A member's address on `network`: the one its facts give (`addresses:
    {network: IP}`, for virtual ports), else an interface's IP inside it."""
    chosen = given.get(network.name)
    if isinstance(chosen, str):
        return chosen
    return next((ip for ip in ips if network.holds(ip)), None)


class Member:
    """A node as templates see it (itself, or another member of its cluster).
    Read-only by convention. It keeps its interface rows as they came and
    makes Iface tuples only when asked."""

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
        self.main_address = _main_address(self.ips, self._given)

    @property
    def interfaces(self) -> tuple[Iface, ...]:
        return tuple(Iface(row[1], row[2], row[3], row[4]) for row in self._interface_rows)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def fact_addresses(self) -> Mapping[str, Any]:
        return self._given

    def address_in(self, network: Network) -> str | None:
        return _address_in(network, self.ips, self._given)


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


class Snapshot:
    """One cluster (or one node without a cluster) as of one read, kept as
    the columns it was read in, in hostname order. A render needs every
    member's name and a few of its addresses (for /etc/hosts, corosync's
    node list and mon_host), which are worked out column by column; a
    Member is built only for the node rendered, and for every member only
    when a template asks for `members`: building a thousand of them was a
    third of a cold read."""

    def __init__(
        self,
        cluster: ClusterInfo | None,
        nodes: list[list[Any]],
        interfaces: list[list[Any]],
        digest: str,
    ) -> None:
        """`nodes`: json_columns lists of (id, hostname, state, roles, corosync
        nodeid, facts); `interfaces`: of (node id, name, MAC, IP, VLAN), in
        any order."""
        self.cluster = cluster
        self.digest = digest
        # What helpers work out once per snapshot rather than once per member
        # rendered (corosync's node list, say).
        self.memo: dict[Any, Any] = {}
        # The order the rows come in is a fact of the database's plan and
        # collation, not a promise; sorting here makes it the same on both
        # (and costs little on rows that come sorted).
        order = sorted(range(len(nodes[1])), key=nodes[1].__getitem__)
        if order != list(range(len(order))):
            nodes = [[column[i] for i in order] for column in nodes]
        self.ids: list[int] = nodes[0]
        self.hostnames: list[str] = nodes[1]
        self._states: list[str] = nodes[2]
        self.roles: list[tuple[str, ...]] = [tuple(roles or ()) for roles in nodes[3]]
        self.nodeids: list[int | None] = nodes[4]
        self._facts: list[Mapping[str, Any]] = [facts or {} for facts in nodes[5]]
        self._interfaces = interfaces
        self._index = {hostname: i for i, hostname in enumerate(self.hostnames)}

    def __len__(self) -> int:
        return len(self.hostnames)

    def _interface_rows(self, ident: int) -> list[tuple[Any, ...]]:
        """The node's interface rows in name order ((node id, name) is
        unique, so the sort never compares the rest)."""
        ids = self._interfaces[0]
        return sorted(
            tuple(column[i] for column in self._interfaces)
            for i in range(len(ids))
            if ids[i] == ident
        )

    @cached_property
    def _ips(self) -> dict[int, list[str]]:
        """Each member's interface IPs (by node id), in interface name order."""
        ids, names, _macs, ips, _vlans = self._interfaces
        by_node: dict[int, list[str]] = {}
        # (node id, name) is unique, so the sort never compares the IPs.
        for ident, _name, ip in sorted(
            (ident, name, ip) for ident, name, ip in zip(ids, names, ips, strict=True) if ip
        ):
            by_node.setdefault(ident, []).append(ip)
        return by_node

    @cached_property
    def _given(self) -> list[Mapping[str, Any]]:
        return [_given_addresses(facts) for facts in self._facts]

    @cached_property
    def main_addresses(self) -> list[str | None]:
        by_node = self._ips
        return [
            _main_address(by_node.get(ident, ()), given)
            for ident, given in zip(self.ids, self._given, strict=True)
        ]

    def addresses_in(self, network: Network) -> list[str | None]:
        """Each member's address on `network`."""
        key = ("addresses", network)
        if key not in self.memo:
            by_node = self._ips
            self.memo[key] = [
                _address_in(network, by_node.get(ident, ()), given)
                for ident, given in zip(self.ids, self._given, strict=True)
            ]
        addresses: list[str | None] = self.memo[key]
        return addresses

    def _member(self, i: int, interface_rows: Sequence[tuple[Any, ...]]) -> Member:
        return Member(
            self.ids[i],
            self.hostnames[i],
            self._states[i],
            self.roles[i],
            self.nodeids[i],
            self._facts[i],
            interface_rows,
        )

    @cached_property
    def members(self) -> tuple[Member, ...]:
        by_node: dict[int, list[tuple[Any, ...]]] = {}
        for row in sorted(zip(*self._interfaces, strict=True)):
            by_node.setdefault(row[0], []).append(row)
        return tuple(self._member(i, by_node.get(ident, [])) for i, ident in enumerate(self.ids))

    def member(self, hostname: str) -> Member | None:
        """The node rendered, built on its own unless `members` already is."""
        i = self._index.get(hostname)
        if i is None:
            return None
        if "members" in self.__dict__:
            return self.members[i]
        return self._member(i, self._interface_rows(self.ids[i]))


class Members(Sequence[Member]):
    """Every member of a snapshot, for templates, built the first time one
    is looked at (a template that does not loop over them costs nothing)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def __len__(self) -> int:
        return len(self._snapshot)

    @overload
    def __getitem__(self, index: int) -> Member: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Member, ...]: ...

    def __getitem__(self, index: int | slice) -> Member | tuple[Member, ...]:
        return self._snapshot.members[index]

    def __iter__(self) -> Iterator[Member]:
        return iter(self._snapshot.members)


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
        # In no order: Snapshot sorts them (ordering them in the query took
        # SQLite 60 % longer, for rows that must be sorted here anyway).
        .where(Interface.node_id.in_(select(Node.id).where(condition)))
    )
    return nodes, interfaces


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
CLUSTER_STATEMENT = jsonrows.columns(
    select(Cluster.id, Cluster.name, Cluster.domain, Cluster.ceph_fsid, Cluster.settings).where(
        Cluster.id == bindparam("cluster_id")
    ),
    select(ClusterNetwork.name, ClusterNetwork.cidr, ClusterNetwork.gateway, ClusterNetwork.vlan)
    .where(ClusterNetwork.cluster_id == bindparam("cluster_id"))
    .order_by(ClusterNetwork.name),
    *_member_statements(Node.cluster_id == bindparam("cluster_id")),
)
_SINGLE = jsonrows.columns(*_member_statements(Node.hostname == bindparam("hostname")))


def cluster_texts(session: Session, cluster_id: int) -> tuple[str, ...]:
    """The cluster as JSON texts, read from every member's rows."""
    return jsonrows.texts(session.connection(), CLUSTER_STATEMENT, cluster_id=cluster_id)


@functools.cache
def statement_tag(dialect: Dialect) -> str:
    """Names the statement the texts come from, as the dialect runs it: texts
    kept by an older bootsvc are not read as this one's."""
    text = str(CLUSTER_STATEMENT.compile(dialect=dialect))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cluster_snapshot(cluster_id: int, texts: Sequence[str]) -> Snapshot:
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
    return Snapshot(cluster, nodes, interfaces, _digest(texts))


def load_cluster(session: Session, cluster_id: int) -> Snapshot:
    return cluster_snapshot(cluster_id, cluster_texts(session, cluster_id))


def load_single(session: Session, hostname: str) -> Snapshot:
    """A node without a cluster: it is its only member."""
    texts = jsonrows.texts(session.connection(), _SINGLE, hostname=hostname)
    nodes, interfaces = (json.loads(text) for text in texts)
    return Snapshot(None, nodes, interfaces, _digest(texts))


def load(session: Session, hostname: str) -> Snapshot:
    cluster_id = cluster_of(session, hostname)
    if cluster_id is None:
        return load_single(session, hostname)
    return load_cluster(session, cluster_id)
