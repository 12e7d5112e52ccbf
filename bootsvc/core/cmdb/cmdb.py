"""The CMDB: nodes, their interfaces and clusters.

Integrations upsert nodes by MAC or serial, and the same record sent twice
changes nothing (no write, no audit entry). An upsert never renames a node
or takes a MAC, IP, serial or UUID from another node unless the caller says
`replace`; the conflict names both nodes, and a move is audited.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload, lazyload, selectinload

from bootsvc.core import audit
from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb import names
from bootsvc.core.cmdb.records import (
    ClusterRecord,
    InterfaceRecord,
    NetworkRecord,
    NodeRecord,
    parse_assignment,
    refuse_oversized,
    secure_boot_is_boolean,
)
from bootsvc.core.views.objects import cluster_view, node_view
from bootsvc.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from bootsvc.settings import MAX_FACTS_BYTES
from bootsvc.store.models import Cluster, ClusterNetwork, Image, ImageVersion, Interface, Node
from bootsvc.store.types import utcnow


@dataclass(frozen=True)
class UpsertResult:
    node: Node
    created: bool
    changed: bool


@dataclass(frozen=True)
class Move:
    """A MAC, IP, serial or UUID a record gives its node while another node
    (`owner`) holds it."""

    kind: str
    value: str
    owner: Node


# How a refused move tells both API clients and CLI users what to send.
_REPLACE_HINT = "send replace: true (--replace on the CLI)"


@dataclass(frozen=True)
class ClusterResult:
    cluster: Cluster
    created: bool
    changed: bool


def get_node(session: Session, hostname: str, lock: bool = False) -> Node:
    """`lock`: take the node's row for this transaction (PostgreSQL; SQLite
    writers already hold the database's write lock)."""
    query = select(Node).where(Node.hostname == hostname.lower())
    node = session.scalar(query.with_for_update() if lock else query)
    if node is None:
        raise NotFound(f"node {hostname!r} does not exist")
    return node


# DHCP enlistment and reports ask it: the node and its cluster in one query, interfaces only
# if asked for; built once, since building it cost more than running it.
_BY_MAC = (
    select(Node)
    .join(Interface)
    .where(Interface.mac == bindparam("mac"))
    .options(lazyload(Node.interfaces), joinedload(Node.cluster))
)


def find_by_mac(session: Session, mac: str) -> Node | None:
    return session.scalar(_BY_MAC, {"mac": mac})


def find_by_uuid(session: Session, uuid: str) -> Node | None:
    return session.scalar(select(Node).where(Node.uuid == uuid))


def find_by_serial(session: Session, serial: str) -> Node | None:
    return session.scalar(select(Node).where(Node.serial == serial))


def list_nodes(
    session: Session, cluster: str | None = None, state: str | None = None
) -> list[Node]:
    query = select(Node).options(*NODE_VIEW_LOAD).order_by(Node.hostname)
    if cluster:
        query = query.join(Cluster).where(Cluster.name == cluster)
    if state:
        query = query.where(Node.state == state)
    return list(session.scalars(query))


# What node_view reads, loaded with the nodes rather than one query per node.
NODE_VIEW_LOAD = (
    selectinload(Node.interfaces),
    selectinload(Node.tpm),
    joinedload(Node.cluster),
    joinedload(Node.image),
    joinedload(Node.pinned_version).joinedload(ImageVersion.image),
    selectinload(Node.reset_request),
)


class _Holders:
    """Who holds each MAC, IP, serial, UUID and hostname that a batch of
    records mentions. Loaded with a few queries up front and kept current as
    the batch is applied, so a bulk import of thousands of nodes costs a
    handful of queries rather than several per record. Only this class
    changes those five fields of nodes and interfaces."""

    _CHUNK = 5000

    def __init__(
        self, session: Session, records: Sequence[NodeRecord], max_facts_bytes: int
    ) -> None:
        self.session = session
        self.max_facts_bytes = max_facts_bytes
        macs = {item.mac for record in records for item in record.interfaces}
        ips = {item.ip for record in records for item in record.interfaces if item.ip}
        self.by_mac: dict[str, Interface] = {}
        self.by_ip: dict[str, Interface] = {}
        with_node = select(Interface).options(joinedload(Interface.node).options(*NODE_VIEW_LOAD))
        for column, values in ((Interface.mac, macs), (Interface.ip, ips)):
            for interface in self._load(with_node, column, values):
                self.by_mac[interface.mac] = interface
                if interface.ip:
                    self.by_ip[interface.ip] = interface
        self.by_serial: dict[str, Node] = {}
        self.by_uuid: dict[str, Node] = {}
        self.by_hostname: dict[str, Node] = {}
        self.looked_up_hostnames = {r.hostname for r in records if r.hostname}
        keys = (
            (Node.serial, {r.serial for r in records if r.serial}, self.by_serial, "serial"),
            (Node.uuid, {r.uuid for r in records if r.uuid}, self.by_uuid, "uuid"),
            (Node.hostname, self.looked_up_hostnames, self.by_hostname, "hostname"),
        )
        nodes = select(Node).options(*NODE_VIEW_LOAD)
        for column, values, index, attribute in keys:
            for node in self._load(nodes, column, values):
                index[getattr(node, attribute)] = node
        self.clusters: dict[str, Cluster] = {}
        self.joined = sorted({r.cluster for r in records if r.cluster})
        self.nodeids: dict[int, set[int]] = {}
        self.assignments: dict[str, tuple[Image | None, str | None, ImageVersion | None]] = {}

    def _load(self, query: Any, column: Any, values: set[str]) -> list[Any]:
        ordered = sorted(values)
        found: list[Any] = []
        for start in range(0, len(ordered), self._CHUNK):
            chunk = ordered[start : start + self._CHUNK]
            found.extend(self.session.scalars(query.where(column.in_(chunk))).unique())
        return found

    def matches(self, record: NodeRecord) -> list[Node]:
        found = {
            id(i.node): i.node for item in record.interfaces if (i := self.by_mac.get(item.mac))
        }
        if record.serial and (owner := self.by_serial.get(record.serial)) is not None:
            found[id(owner)] = owner
        return sorted(found.values(), key=lambda node: node.hostname)

    def named(self, hostname: str | None) -> Node | None:
        """The node with a hostname some record of the batch gives."""
        return self.by_hostname.get(hostname) if hostname else None

    def foreign(self, record: NodeRecord, target: Node | None) -> list[Move]:
        """What `record` lists that a node other than `target` holds. An IP
        on an interface whose MAC moves is freed with it, not listed twice."""
        moves: list[Move] = []
        for item in record.interfaces:
            holder = self.by_mac.get(item.mac)
            if holder is not None and holder.node is not target:
                moves.append(Move("MAC", item.mac, holder.node))
        moving = {move.value for move in moves}
        for item in record.interfaces:
            holder = self.by_ip.get(item.ip) if item.ip else None
            if holder is not None and holder.node is not target and holder.mac not in moving:
                moves.append(Move("IP", holder.ip or "", holder.node))
        for kind, value, index in (
            ("serial", record.serial, self.by_serial),
            ("UUID", record.uuid, self.by_uuid),
        ):
            owner = index.get(value) if value else None
            if owner is not None and owner is not target:
                moves.append(Move(kind, value or "", owner))
        return moves

    def release(self, move: Move, target: str, actor: str) -> None:
        """Take `move`'s identity from its owner, which must keep a MAC or a
        serial to be found by, and audit the move."""
        owner = move.owner
        if move.kind == "MAC":
            self.drop_interface(owner, self.by_mac[move.value])
        elif move.kind == "IP":
            self.set_ip(self.by_ip[move.value], None)
        elif move.kind == "serial":
            self.set_serial(owner, None)
        else:
            self.set_uuid(owner, None)
        if not owner.interfaces and not owner.serial:
            raise Conflict(
                f"moving {move.kind} {move.value} to {target} would leave node "
                f"{owner.hostname} with no MAC and no serial; remove node {owner.hostname} first",
                nodes=[owner.hostname, target],
            )
        owner.updated_at = utcnow()
        audit.record(
            self.session,
            actor,
            "node.move",
            f"node/{owner.hostname}",
            owner.hostname,
            target,
            **{move.kind.lower(): move.value},
        )

    def claim_hostname(self, node: Node, hostname: str) -> None:
        owner = self.by_hostname.get(hostname)
        if owner is None and hostname not in self.looked_up_hostnames:
            owner = self.session.scalar(select(Node).where(Node.hostname == hostname))
        if owner is not None and owner is not node:
            raise Conflict(
                f"hostname {hostname!r} is already used by node {owner.hostname}, "
                "which has other MACs and another serial",
                node=owner.hostname,
            )
        if node.hostname and self.by_hostname.get(node.hostname) is node:
            del self.by_hostname[node.hostname]
        node.hostname = hostname
        self.by_hostname[hostname] = node

    def set_serial(self, node: Node, serial: str | None) -> None:
        self._set_unique(node, "serial", "serial", serial, self.by_serial)

    def set_uuid(self, node: Node, uuid: str | None) -> None:
        self._set_unique(node, "uuid", "UUID", uuid, self.by_uuid)

    @staticmethod
    def _set_unique(
        node: Node, attribute: str, label: str, value: str | None, index: dict[str, Node]
    ) -> None:
        owner = index.get(value) if value else None
        if owner is not None and owner is not node:
            raise Conflict(
                f"{label} {value} is already used by node {owner.hostname}", node=owner.hostname
            )
        current = getattr(node, attribute)
        if current and index.get(current) is node:
            del index[current]
        setattr(node, attribute, value)
        if value:
            index[value] = node

    def add_interface(self, node: Node, mac: str, name: str) -> Interface:
        owner = self.by_mac.get(mac)
        if owner is not None and owner.node is not node:
            raise Conflict(
                f"MAC {mac} is already used by node {owner.node.hostname}", node=owner.node.hostname
            )
        interface = Interface(mac=mac, name=name)
        node.interfaces.append(interface)
        self.by_mac[mac] = interface
        return interface

    def drop_interface(self, node: Node, interface: Interface) -> None:
        node.interfaces.remove(interface)
        self.by_mac.pop(interface.mac, None)
        if interface.ip and self.by_ip.get(interface.ip) is interface:
            del self.by_ip[interface.ip]

    def set_ip(self, interface: Interface, ip: str | None) -> None:
        holder = self.by_ip.get(ip) if ip else None
        if holder is not None and holder is not interface:
            if holder.node is interface.node:
                where = f"interface {holder.name} of node {holder.node.hostname}"
                raise Conflict(f"IP {ip} is already used by {where}")

            raise Conflict(
                f"IP {ip} is already used by node {holder.node.hostname}", node=holder.node.hostname
            )
        if interface.ip and self.by_ip.get(interface.ip) is interface:
            del self.by_ip[interface.ip]
        interface.ip = ip
        if ip:
            self.by_ip[ip] = interface

    def cluster(self, name: str) -> Cluster:
        if name not in self.clusters:
            self.clusters[name] = _cluster_by_name(self.session, name)
        return self.clusters[name]

    def join(self, node: Node, cluster: Cluster | None) -> None:
        """Move the node into `cluster` (or out of any) with the lowest
        corosync nodeid free there. Ids given up in this batch are not handed
        out again before it commits, so no flush order can collide."""
        node.cluster = cluster
        node.corosync_nodeid = None if cluster is None else self._free_nodeid(cluster)

    def _free_nodeid(self, cluster: Cluster) -> int:
        if not self.nodeids:
            # Writers joining nodes to a cluster take turns on its row. A batch
            # locks every cluster it names at once, in id order, so two batches
            # never wait for each other crosswise.
            self.session.execute(
                select(Cluster.id)
                .where(Cluster.name.in_([*self.joined, cluster.name]))
                .order_by(Cluster.id)
                .with_for_update()
            )
        taken = self.nodeids.get(cluster.id)
        if taken is None:
            taken = set(
                self.session.scalars(
                    select(Node.corosync_nodeid).where(
                        Node.cluster_id == cluster.id, Node.corosync_nodeid.is_not(None)
                    )
                )
            )
            self.nodeids[cluster.id] = taken
        nodeid = 1
        while nodeid in taken:
            nodeid += 1
        taken.add(nodeid)
        return nodeid

    def assignment(self, text: str) -> tuple[Image | None, str | None, ImageVersion | None]:
        if text not in self.assignments:
            self.assignments[text] = _resolve_assignment(self.session, text)
        return self.assignments[text]


def _free_interface_name(node: Node) -> str:
    taken = {item.name for item in node.interfaces}
    index = 0
    while f"eth{index}" in taken:
        index += 1
    return f"eth{index}"


def _merge_interface(holders: _Holders, node: Node, item: InterfaceRecord) -> None:
    current = next((i for i in node.interfaces if i.mac == item.mac), None)
    if current is None:
        current = holders.add_interface(node, item.mac, item.name or _free_interface_name(node))
    given = item.model_fields_set
    if "name" in given and item.name:
        clash = next((i for i in node.interfaces if i.name == item.name and i is not current), None)
        if clash is not None:
            raise InvalidInput(
                f"node {node.hostname} already has an interface {item.name} ({clash.mac})"
            )
        current.name = item.name
    if "ip" in given:
        if item.ip:
            _refuse_network_address(node, item.ip)
        holders.set_ip(current, item.ip)
    if "vlan" in given:
        current.vlan = item.vlan


def _refuse_network_address(node: Node, ip: str) -> None:
    """The network and broadcast addresses of the node's cluster networks
    are no host's (networks of /31, /32 and /127, /128 have none)."""
    if node.cluster is None:
        return
    address = ipaddress.ip_address(ip)
    for network in node.cluster.networks:
        subnet = ipaddress.ip_network(network.cidr)
        if subnet.version != address.version or subnet.prefixlen >= subnet.max_prefixlen - 1:
            continue
        if address == subnet.network_address:
            kind = "network"
        elif subnet.version == 4 and address == subnet.broadcast_address:
            kind = "broadcast"
        else:
            continue
        raise InvalidInput(
            f"IP {ip} is the {kind} address of network {network.name} ({network.cidr}) "
            f"of cluster {node.cluster.name}, not a host's"
        )


def _cluster_by_name(session: Session, name: str) -> Cluster:
    cluster = session.scalar(select(Cluster).where(Cluster.name == name))
    if cluster is None:
        raise InvalidInput(f"cluster {name!r} does not exist")
    return cluster


def _resolve_assignment(
    session: Session, assignment: str
) -> tuple[Image | None, str | None, ImageVersion | None]:
    image_name, channel, version = parse_assignment(assignment)
    try:
        image = catalog.get_image(session, image_name)
        pinned = catalog.get_version(session, image_name, version) if version else None
    except NotFound as exc:
        raise InvalidInput(exc.message) from None
    return image, channel, pinned


def assign_image(session: Session, node: Node, assignment: str | None) -> None:
    """Follow IMAGE@CHANNEL, pin IMAGE=VERSION, or clear with None."""
    if not assignment:
        node.image, node.channel, node.pinned_version = None, None, None
        return
    node.image, node.channel, node.pinned_version = _resolve_assignment(session, assignment)


def _apply(holders: _Holders, node: Node, record: NodeRecord) -> None:
    given = record.model_fields_set
    if record.hostname:
        holders.claim_hostname(node, record.hostname)
    if "serial" in given:
        holders.set_serial(node, record.serial or None)
    if "asset_tag" in given:
        node.asset_tag = record.asset_tag or None
    if "uuid" in given:
        holders.set_uuid(node, record.uuid or None)
    if "cluster" in given:
        cluster = holders.cluster(record.cluster) if record.cluster else None
        if cluster is not node.cluster:
            holders.join(node, cluster)
    if "roles" in given:
        node.roles = record.roles
    if "facts" in given:
        refuse_oversized(record.facts, holders.max_facts_bytes, "facts", "cmdb_max_facts_bytes")
        node.facts = record.facts
    if "image" in given:
        if record.image:
            node.image, node.channel, node.pinned_version = holders.assignment(record.image)
        else:
            node.image, node.channel, node.pinned_version = None, None, None
    if record.state is not None:
        node.state = record.state


def _changed_fields(before: dict[str, Any], node: Node) -> list[str]:
    after = node_view(node).model_dump()
    return sorted(key for key in after if after[key] != before[key])


def _held_by(record: NodeRecord, node: Node) -> str:
    """Which of the record's MACs or serial matched `node`, for messages."""
    ours = {interface.mac for interface in node.interfaces}
    mac = next((item.mac for item in record.interfaces if item.mac in ours), None)
    return f"MAC {mac}" if mac else f"serial {record.serial}"


def _target(holders: _Holders, record: NodeRecord, replace: bool) -> Node | None:
    """The node a record is for: the one its hostname names, or else the one
    holding its MACs or serial; None for a new node. Without `replace`, a
    hostname that is not the matched node's is refused, never a rename."""
    matches = holders.matches(record)
    named = holders.named(record.hostname)
    if named is not None:
        if replace or named in matches:
            return named
        if not matches:
            raise Conflict(
                f"hostname {named.hostname!r} is already used by node {named.hostname}, "
                f"which has other MACs and another serial; {_REPLACE_HINT} "
                "to give it this record's",
                node=named.hostname,
            )
        # Held by other nodes: refused below, naming what would move.
        return named
    if len(matches) > 1:
        if replace and record.hostname:
            return None
        raise Conflict(
            "this record's MACs and serial belong to different nodes: "
            + ", ".join(node.hostname for node in matches),
            nodes=[node.hostname for node in matches],
        )
    if not matches:
        return None
    node = matches[0]
    if record.hostname and record.hostname != node.hostname and not replace:
        raise Conflict(
            f"{_held_by(record, node)} belongs to node {node.hostname}; this record is for "
            f"{record.hostname}; {_REPLACE_HINT} to rename {node.hostname} to {record.hostname}",
            nodes=[node.hostname, record.hostname],
        )
    return node


def _take(
    holders: _Holders, record: NodeRecord, target: Node | None, replace: bool, actor: str
) -> None:
    """Move to `target` what the record lists and other nodes hold, if the
    caller said `replace`; refuse naming both nodes otherwise."""
    label = record.hostname or (target.hostname if target else "a new node")
    moves = holders.foreign(record, target)
    if not moves:
        return
    if not replace:
        first = moves[0]
        more = f" (and {len(moves) - 1} more)" if len(moves) > 1 else ""
        raise Conflict(
            f"{first.kind} {first.value} belongs to node {first.owner.hostname}{more}; "
            f"this record is for {label}; {_REPLACE_HINT} to move it",
            node=first.owner.hostname,
            nodes=sorted({move.owner.hostname for move in moves} | {label}),
        )
    for move in moves:
        holders.release(move, label, actor)
    # Written before the target takes them: the columns are unique.
    holders.session.flush()


def _upsert(holders: _Holders, record: NodeRecord, actor: str, replace: bool) -> UpsertResult:
    session = holders.session
    if not record.interfaces and not record.serial:
        raise InvalidInput("a node record needs at least one MAC or a serial")
    target = _target(holders, record, replace)
    _take(holders, record, target, replace, actor)
    if target is not None:
        node = target
        previous = node.hostname
        before = node_view(node).model_dump()
        _apply(holders, node, record)
        for item in record.interfaces:
            _merge_interface(holders, node, item)
        changed = _changed_fields(before, node)
        if not changed:
            return UpsertResult(node, created=False, changed=False)
        node.updated_at = utcnow()
        if node.hostname != previous:
            audit.record(
                session, actor, "node.rename", f"node/{node.hostname}", previous, node.hostname
            )
        audit.record(session, actor, "node.update", f"node/{node.hostname}", fields=changed)
        return UpsertResult(node, created=False, changed=True)
    first_mac = record.interfaces[0].mac if record.interfaces else None
    hostname = record.hostname or _enlist_hostname(session, first_mac, record.serial)
    node = Node(hostname="", state=record.state or "active", roles=[], facts={})
    _apply(holders, node, record.model_copy(update={"hostname": hostname}))
    for item in record.interfaces:
        _merge_interface(holders, node, item)
    session.add(node)
    audit.record(session, actor, "node.create", f"node/{hostname}")
    return UpsertResult(node, created=True, changed=True)


def upsert_node(
    session: Session,
    record: NodeRecord,
    actor: str,
    *,
    replace: bool = False,
    max_facts_bytes: int = MAX_FACTS_BYTES,
) -> UpsertResult:
    """Create the node, or update the one its hostname names or that holds
    its MACs or serial. `replace`: rename it, or move to it what other nodes
    hold, rather than refuse."""
    with session.no_autoflush:
        result = _upsert(_Holders(session, [record], max_facts_bytes), record, actor, replace)
    session.flush()
    return result


def patch_node(
    session: Session,
    hostname: str,
    record: NodeRecord,
    actor: str,
    *,
    replace: bool = False,
    max_facts_bytes: int = MAX_FACTS_BYTES,
) -> Node:
    """Set the fields given in `record`; its interfaces, when given, become
    the node's whole set. A MAC, IP, serial or UUID of another node is moved
    with `replace`, refused without."""
    node = get_node(session, hostname)
    holders = _Holders(session, [record], max_facts_bytes)
    holders.by_hostname.setdefault(node.hostname, node)
    before = node_view(node).model_dump()
    with session.no_autoflush:
        _take(holders, record.model_copy(update={"hostname": None}), node, replace, actor)
        _apply(holders, node, record)
        if "interfaces" in record.model_fields_set:
            wanted = {item.mac for item in record.interfaces}
            for current in list(node.interfaces):
                if current.mac not in wanted:
                    holders.drop_interface(node, current)
            session.flush()
            for item in record.interfaces:
                _merge_interface(holders, node, item)
    if not node.interfaces and not node.serial:
        raise InvalidInput("a node needs at least one MAC or a serial")
    session.flush()
    changed = _changed_fields(before, node)
    if changed:
        node.updated_at = utcnow()
        audit.record(session, actor, "node.update", f"node/{node.hostname}", fields=changed)
    return node


def _refuse_contradictions(records: Sequence[NodeRecord]) -> None:
    """Two records giving one MAC, IP, serial or UUID to different hosts: no
    order of applying them is right, so the whole batch is refused."""
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    for number, record in enumerate(records, start=1):
        if not record.hostname:
            continue
        keys = [("MAC", item.mac) for item in record.interfaces]
        keys += [("IP", item.ip) for item in record.interfaces if item.ip]
        keys += [("serial", record.serial or ""), ("UUID", record.uuid or "")]
        for kind, value in keys:
            if not value:
                continue
            first, host = seen.setdefault((kind, value), (number, record.hostname))
            if host != record.hostname:
                raise InvalidInput(
                    f"records {first} ({host}) and {number} ({record.hostname}) both list "
                    f"{kind} {value}; nothing was imported",
                    nodes=[host, record.hostname],
                )


def import_nodes(
    session: Session,
    records: Sequence[NodeRecord],
    actor: str,
    *,
    replace: bool = False,
    max_facts_bytes: int = MAX_FACTS_BYTES,
) -> list[UpsertResult]:
    """Upsert many records in the caller's transaction: one bad record and the
    caller's rollback leaves the CMDB as it was."""
    _refuse_contradictions(records)
    holders = _Holders(session, records, max_facts_bytes)
    results = []
    with session.no_autoflush:
        for number, record in enumerate(records, start=1):
            try:
                results.append(_upsert(holders, record, actor, replace))
            except (InvalidInput, Conflict, NotFound, PayloadTooLarge) as exc:
                label = record.hostname or (record.interfaces[0].mac if record.interfaces else "?")
                raise type(exc)(
                    f"record {number} ({label}): {exc.message}", **exc.details
                ) from None
    session.flush()
    return results


def set_state(session: Session, hostname: str, state: str, actor: str) -> tuple[Node, bool]:
    node = get_node(session, hostname)
    if node.state == state:
        return node, False
    previous = node.state
    node.state = state
    node.updated_at = utcnow()
    audit.record(session, actor, "node.state", f"node/{node.hostname}", previous, state)
    return node, True


def remove_node(session: Session, hostname: str, actor: str) -> None:
    node = get_node(session, hostname)
    session.delete(node)
    audit.record(session, actor, "node.remove", f"node/{node.hostname}")


def _enlist_hostname(session: Session, mac: str | None, serial: str | None) -> str:
    if mac:
        base = "node-" + mac.replace(":", "")
    else:
        base = names.hostname(
            ("node-" + "".join(ch for ch in (serial or "x").lower() if ch.isalnum()))[:63]
        )
    candidate, suffix = base, 1
    while session.scalar(select(Node.id).where(Node.hostname == candidate)) is not None:
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate


def enlist(
    session: Session,
    mac: str,
    facts: dict[str, Any],
    uuid: str | None = None,
    serial: str | None = None,
    asset_tag: str | None = None,
) -> Node:
    """Record a machine that booted without being known, in state `new`."""
    node = Node(
        hostname=_enlist_hostname(session, mac, serial),
        state="new",
        roles=[],
        facts={**facts, "enlisted_by": "boot"},
        asset_tag=asset_tag,
    )
    if uuid and find_by_uuid(session, uuid) is None:
        node.uuid = uuid
    if serial and find_by_serial(session, serial) is None:
        node.serial = serial
    node.interfaces.append(Interface(name="eth0", mac=mac))
    session.add(node)
    session.flush()
    audit.record(session, "boot", "node.enlist", f"node/{node.hostname}", to_value=mac)
    return node


def get_cluster(session: Session, name: str) -> Cluster:
    cluster = session.scalar(select(Cluster).where(Cluster.name == name))
    if cluster is None:
        raise NotFound(f"cluster {name!r} does not exist")
    return cluster


def list_clusters(session: Session) -> list[Cluster]:
    return list(session.scalars(select(Cluster).order_by(Cluster.name)))


def _network_rows(record: ClusterRecord) -> list[tuple[str, str, str | None, int | None]]:
    return [(n.name, n.cidr, n.gateway, n.vlan) for n in record.networks]


def upsert_cluster(session: Session, record: ClusterRecord, actor: str) -> ClusterResult:
    """Create a cluster or bring it to `record`; fields left out are kept."""
    given = record.model_fields_set
    cluster = session.scalar(select(Cluster).where(Cluster.name == record.name))
    created = cluster is None
    if cluster is None:
        cluster = Cluster(name=record.name, domain=record.domain, settings={})
        session.add(cluster)
    before = cluster_view(cluster).model_dump() if not created else None
    cluster.domain = record.domain
    if "settings" in given:
        cluster.settings = record.settings
    if "networks" in given:
        current = [(n.name, n.cidr, n.gateway, n.vlan) for n in cluster.networks]
        if current != _network_rows(record):
            cluster.networks.clear()
            session.flush()
            cluster.networks.extend(
                ClusterNetwork(name=n.name, cidr=n.cidr, gateway=n.gateway, vlan=n.vlan)
                for n in record.networks
            )
    session.flush()
    if not created and cluster_view(cluster).model_dump() == before:
        return ClusterResult(cluster, created=False, changed=False)
    cluster.updated_at = utcnow()
    action = "cluster.create" if created else "cluster.update"
    audit.record(session, actor, action, f"cluster/{cluster.name}")
    return ClusterResult(cluster, created=created, changed=True)


def set_cluster_settings(
    session: Session, name: str, updates: dict[str, Any], removals: Sequence[str], actor: str
) -> Cluster:
    cluster = get_cluster(session, name)
    try:
        secure_boot_is_boolean(updates)
    except InvalidInput as exc:
        raise InvalidInput(f"settings: {exc.message}") from None
    settings = dict(cluster.settings)
    settings.update(updates)
    for key in removals:
        settings.pop(key, None)
    if settings != cluster.settings:
        cluster.settings = settings
        cluster.updated_at = utcnow()
        audit.record(
            session,
            actor,
            "cluster.settings",
            f"cluster/{name}",
            keys=sorted(set(updates) | set(removals)),
        )
    return cluster


def patch_cluster(
    session: Session,
    name: str,
    actor: str,
    domain: str | None = None,
    networks: Sequence[NetworkRecord] | None = None,
    settings: dict[str, Any] | None = None,
) -> Cluster:
    """Change what is given: networks replace the cluster's, settings are merged
    (a None value removes the key)."""
    cluster = get_cluster(session, name)
    given: dict[str, Any] = {"name": cluster.name, "domain": domain or cluster.domain}
    if networks is not None:
        given["networks"] = list(networks)
    upsert_cluster(session, ClusterRecord(**given), actor)
    if settings:
        updates = {key: value for key, value in settings.items() if value is not None}
        removals = [key for key, value in settings.items() if value is None]
        set_cluster_settings(session, name, updates, removals, actor)
    return cluster


def remove_cluster(session: Session, name: str, actor: str) -> None:

    cluster = get_cluster(session, name)
    members = [node.hostname for node in cluster.nodes]
    if members:
        raise Conflict(
            f"cluster {name!r} still has members: {', '.join(members[:5])}; nothing was deleted"
        )
    session.delete(cluster)
    audit.record(session, actor, "cluster.remove", f"cluster/{name}")
