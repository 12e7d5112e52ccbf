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
import socket
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, TypeVar, overload

from sqlalchemy import Connection, Dialect, Select, bindparam, select
from sqlalchemy.orm import Session

from bootsvc import __version__
from bootsvc.errors import NotFound
from bootsvc.store import jsonrows
from bootsvc.store.models import Cluster, ClusterNetwork, Interface, Node

T = TypeVar("T")


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

    @cached_property
    def _range(self) -> tuple[socket.AddressFamily, int, int]:
        network = self._network
        family = socket.AF_INET if network.version == 4 else socket.AF_INET6
        return family, int(network.network_address), int(network.broadcast_address)

    def holds(self, ip: str) -> bool:
        """By inet_pton rather than ipaddress: a cold render asks it of every
        member's IPs, and ipaddress took 3.5 to 6 ms for 1,000 members. An
        address of the other family, or none, is not held."""
        family, first, last = self._range
        try:
            value = int.from_bytes(socket.inet_pton(family, ip), "big")
        except (OSError, ValueError):
            return False
        return first <= value <= last


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


class Roster(NamedTuple):
    """What every member's render needs of the whole cluster: each member's
    name, roles and corosync nodeid, the address /etc/hosts gives it, and its
    address on each of the cluster's networks, in hostname order. Stored
    with a cluster's document, it spares a cold render parsing every
    member's facts and interfaces (which grow with the CMDB's inventory)
    and working the addresses out again."""

    hostnames: list[str]
    roles: list[list[str]]
    nodeids: list[int | None]
    main_addresses: list[str | None]
    addresses: dict[str, list[str | None]]

    def text(self) -> str:
        return json.dumps(self, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Roster:
        return cls(*json.loads(text))


class _Columns:
    """The members' rows as parsed, nodes in hostname order."""

    def __init__(self, nodes: list[list[Any]], interfaces: list[list[Any]]) -> None:
        """`nodes`: json_columns lists of (id, hostname, state, roles, corosync
        nodeid, facts); `interfaces`: of (node id, name, MAC, IP, VLAN), in
        any order."""
        # The order the rows come in is a fact of the database's plan and
        # collation, not a promise; sorting here makes it the same on both
        # (and costs little on rows that come sorted).
        order = sorted(range(len(nodes[1])), key=nodes[1].__getitem__)
        if order != list(range(len(order))):
            nodes = [[column[i] for i in order] for column in nodes]
        self.ids: list[int] = nodes[0]
        self.hostnames: list[str] = nodes[1]
        self.states: list[str] = nodes[2]
        self.roles: list[list[str]] = [roles or [] for roles in nodes[3]]
        self.nodeids: list[int | None] = nodes[4]
        self.facts: list[Mapping[str, Any]] = [facts or {} for facts in nodes[5]]
        self.interfaces = interfaces

    @classmethod
    def parse(cls, nodes: str, interfaces: str) -> _Columns:
        return cls(json.loads(nodes), json.loads(interfaces))


class Snapshot:
    """One cluster (or one node without a cluster) as of one read, kept as
    the columns it was read in, in hostname order. A render needs every
    member's name and a few of its addresses (for /etc/hosts, corosync's
    node list and mon_host), which are worked out column by column, or come
    with the stored roster; a Member is built only for the node rendered,
    and for every member only when a template asks for `members`: building
    a thousand of them was a third of a cold read. The members' texts are
    parsed only when something needs more than the roster."""

    def __init__(
        self,
        cluster: ClusterInfo | None,
        texts: Callable[[], tuple[str, str]],
        digest: str,
        roster: Roster | None = None,
    ) -> None:
        """`texts`: gives the members' nodes and interfaces as json_columns
        text (a stored document keeps them compressed until asked)."""
        self.cluster = cluster
        self.digest = digest
        # What `remember` has worked out, by key.
        self._memo: dict[Any, Any] = {}
        self._texts = texts
        self._known: dict[str, Member] = {}
        self.hostnames: list[str]
        self.nodeids: list[int | None]
        if roster is None:
            columns = self._columns
            self.hostnames = columns.hostnames
            roles, self.nodeids = columns.roles, columns.nodeids
        else:
            self.hostnames, roles, self.nodeids = roster.hostnames, roster.roles, roster.nodeids
            self.__dict__["main_addresses"] = roster.main_addresses
            for network in cluster.networks if cluster else ():
                if network.name in roster.addresses:
                    self._memo["addresses", network] = roster.addresses[network.name]
        self.roles: list[tuple[str, ...]] = [tuple(names) for names in roles]
        self._index = {hostname: i for i, hostname in enumerate(self.hostnames)}

    def __len__(self) -> int:
        return len(self.hostnames)

    @cached_property
    def _columns(self) -> _Columns:
        return _Columns.parse(*self._texts())

    def _interface_rows(self, ident: int) -> list[tuple[Any, ...]]:
        """The node's interface rows in name order ((node id, name) is
        unique, so the sort never compares the rest)."""
        interfaces = self._columns.interfaces
        ids = interfaces[0]
        return sorted(
            tuple(column[i] for column in interfaces) for i in range(len(ids)) if ids[i] == ident
        )

    @cached_property
    def _ips(self) -> dict[int, list[str]]:
        """Each member's interface IPs (by node id), in interface name order."""
        ids, names, _macs, ips, _vlans = self._columns.interfaces
        by_node: dict[int, list[str]] = {}
        # (node id, name) is unique, so the sort never compares the IPs.
        for ident, _name, ip in sorted(
            (ident, name, ip) for ident, name, ip in zip(ids, names, ips, strict=True) if ip
        ):
            by_node.setdefault(ident, []).append(ip)
        return by_node

    @cached_property
    def _given(self) -> list[Mapping[str, Any]]:
        return [_given_addresses(facts) for facts in self._columns.facts]

    @cached_property
    def main_addresses(self) -> list[str | None]:
        by_node = self._ips
        return [
            _main_address(by_node.get(ident, ()), given)
            for ident, given in zip(self._columns.ids, self._given, strict=True)
        ]

    def remember(self, key: Hashable, work: Callable[[], T]) -> T:
        """What `work` gives, worked out once per snapshot: for what is the
        same for every member rendered (corosync's node list, say)."""
        if key not in self._memo:
            self._memo[key] = work()
        found: T = self._memo[key]
        return found

    def addresses_in(self, network: Network) -> list[str | None]:
        """Each member's address on `network`."""

        def work() -> list[str | None]:
            by_node = self._ips
            return [
                _address_in(network, by_node.get(ident, ()), given)
                for ident, given in zip(self._columns.ids, self._given, strict=True)
            ]

        return self.remember(("addresses", network), work)

    def roster(self) -> Roster:
        networks = self.cluster.networks if self.cluster else ()
        return Roster(
            self.hostnames,
            [list(names) for names in self.roles],
            self.nodeids,
            self.main_addresses,
            {network.name: self.addresses_in(network) for network in networks},
        )

    def _member(self, i: int, interface_rows: Sequence[tuple[Any, ...]]) -> Member:
        columns = self._columns
        return Member(
            columns.ids[i],
            self.hostnames[i],
            columns.states[i],
            self.roles[i],
            self.nodeids[i],
            columns.facts[i],
            interface_rows,
        )

    @cached_property
    def members(self) -> tuple[Member, ...]:
        by_node: dict[int, list[tuple[Any, ...]]] = {}
        for row in sorted(zip(*self._columns.interfaces, strict=True)):
            by_node.setdefault(row[0], []).append(row)
        return tuple(
            self._member(i, by_node.get(ident, [])) for i, ident in enumerate(self._columns.ids)
        )

    def know(self, member: Member) -> None:
        """A member read on its own (the node a cold process renders, read
        with the document): asking for it then parses no one else's rows."""
        if member.hostname in self._index:
            self._known.setdefault(member.hostname, member)

    def member(self, hostname: str) -> Member | None:
        """The node rendered, built on its own unless `members` already is."""
        i = self._index.get(hostname)
        if i is None:
            return None
        known = self._known.get(hostname)
        if known is not None:
            return known
        if "members" in self.__dict__:
            return self.members[i]
        return self._member(i, self._interface_rows(self._columns.ids[i]))


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


def digest_of(texts: Sequence[str]) -> str:
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
# One node (by `hostname`) and its interfaces as the cluster's texts give
# them: two JSON texts, for a statement to select with what else it reads.
NODE_TEXTS = jsonrows.column_texts(*_member_statements(Node.hostname == bindparam("hostname")))
_SINGLE = select(*NODE_TEXTS)


def cluster_texts(connection: Connection, cluster_id: int) -> tuple[str, ...]:
    """The cluster as JSON texts, read from every member's rows."""
    return jsonrows.texts(connection, CLUSTER_STATEMENT, cluster_id=cluster_id)


@functools.cache
def statement_tag(dialect: Dialect) -> str:
    """Names the statement the texts come from, as the dialect runs it, and
    the roster worked out from them: texts kept by an older bootsvc are not
    read as this one's."""
    text = f"{CLUSTER_STATEMENT.compile(dialect=dialect)}\0{Roster._fields}\0{__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cluster_info(cluster_id: int, cluster: str, networks: str) -> ClusterInfo:
    """From the first two texts of CLUSTER_STATEMENT; NotFound for a cluster
    that is gone."""
    rows = list(zip(*json.loads(cluster), strict=True))
    if not rows:
        raise NotFound(f"cluster {cluster_id} does not exist")
    ident, name, domain, fsid, settings = rows[0]
    return ClusterInfo(
        id=ident,
        name=name,
        domain=domain,
        fsid=fsid,
        settings=settings or {},
        # A cluster's network names are unique: the sort compares names only.
        networks=tuple(Network(*row) for row in sorted(zip(*json.loads(networks), strict=True))),
    )


def cluster_snapshot(cluster_id: int, texts: Sequence[str]) -> Snapshot:
    """From the four texts of CLUSTER_STATEMENT."""
    members = (texts[2], texts[3])
    return Snapshot(cluster_info(cluster_id, texts[0], texts[1]), lambda: members, digest_of(texts))


def load_cluster(session: Session, cluster_id: int) -> Snapshot:
    return cluster_snapshot(cluster_id, cluster_texts(session.connection(), cluster_id))


def single_snapshot(texts: tuple[str, str]) -> Snapshot:
    """A node as its own only member, from the two texts of NODE_TEXTS."""
    return Snapshot(None, lambda: texts, digest_of(texts))


def load_single(session: Session, hostname: str) -> Snapshot:
    """A node without a cluster: it is its only member."""
    nodes, interfaces = jsonrows.texts(session.connection(), _SINGLE, hostname=hostname)
    return single_snapshot((nodes, interfaces))


def load(session: Session, hostname: str) -> Snapshot:
    cluster_id = cluster_of(session, hostname)
    if cluster_id is None:
        return load_single(session, hostname)
    return load_cluster(session, cluster_id)
