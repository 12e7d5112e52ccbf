"""The fleet's DNS records, read from the CMDB in a handful of queries.

Each cluster's `domain` is a zone; so is every reverse zone that a cluster
network covers. Networks are split on octet or nibble boundaries (a /22 is
four /24 zones, a /26 is 64 one-address zones), and a node address that no
network covers is a zone of its own: we claim no address outside the fleet,
so PTR queries for the rest of the site still go upstream. Only nodes that
belong to a cluster are published:

- `<host>.<domain>`: A/AAAA for every interface address of the node, and
  `<ifname>.<host>.<domain>` for each interface alone (a '.' in the
  interface name, as in eth0.100, becomes '-'); PTR back to `<host>.<domain>`.
- CNAMEs, which the CMDB has no field for: the node fact `dns_aliases` (a list
  of names that point at the node) and the cluster setting `dns_cnames` (a map
  alias -> target). Names are relative to the cluster's domain unless they end
  with '.'; an alias must fall inside one of our zones and must not hide
  another record, or it is left out and logged.
- `_ceph-mon._tcp.<domain>`: SRV for every node with role `ceph-mon`, on 3300
  (msgr2, preferred) and 6789 (v1). Ceph keeps one record per host, the last
  it reads, so 6789 is listed first and Ceph ends on 3300.
- bootsvc's own services: `_http._tcp` (or `_https._tcp`), `_tftp._udp` when
  TFTP is on, `_domain._udp` and `_domain._tcp`, aimed at `bootsvc.<domain>`,
  which holds the address nodes use for bootsvc; that host is also the NS.
- SOA and NS at every zone apex; the serial is the caller's change counter.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from dnslib import AAAA, CNAME, NS, PTR, QTYPE, RR, SOA, SRV, A, DNSLabel
from dnslib.dns import RD
from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.net.dns import ZoneSet
from bootsvc.store.models import Cluster, ClusterNetwork, Interface, Node

SELF_LABEL = "bootsvc"
MON_ROLE = "ceph-mon"
MON_SERVICE = "_ceph-mon._tcp"
# (port, priority), in answer order; see the module docstring for why.
MON_PORTS = ((6789, 20), (3300, 10))
# RFC 2308 negative caching: short, so that a name registered just after a
# miss is not hidden for long by a caching resolver.
NEGATIVE_TTL = 10
SOA_TIMES = (3600, 600, 86400)
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class DnsSite:
    """What bootsvc itself offers: published as SRV records in every domain."""

    server: str
    http_port: int
    http_scheme: str = "http"
    tftp_port: int | None = None
    dns_port: int | None = None
    ttl: int = 60


@dataclass
class FleetZones:
    zones: ZoneSet
    serial: int
    skipped: list[str] = field(default_factory=list)


@dataclass
class _ClusterRow:
    name: str
    domain: str
    settings: dict[str, Any]
    networks: list[IpNetwork] = field(default_factory=list)


class _Address(NamedTuple):
    ifname: str
    ip: IpAddress
    reverse: str


@dataclass
class _NodeRow:
    hostname: str
    cluster_id: int
    roles: list[str]
    facts: dict[str, Any]
    addresses: list[_Address] = field(default_factory=list)


def dns_name(value: str) -> str | None:
    """The name in lower case without the final dot, or None if it is not one."""
    name = value.lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return name


def reverse_zones(network: IpNetwork) -> list[str]:
    """Reverse zones that cover `network` and nothing outside it."""
    step = 8 if network.version == 4 else 4
    prefix = max(step, -(-network.prefixlen // step) * step)
    drop = (network.max_prefixlen - prefix) // step
    return [
        ".".join(subnet.network_address.reverse_pointer.split(".")[drop:])
        for subnet in network.subnets(new_prefix=prefix)
    ]


class _Records:
    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.by_name: dict[str, dict[int, list[RR]]] = defaultdict(dict)
        self.skipped: list[str] = []

    def add(self, name: str, rtype: int, rdata: RD, ttl: int | None = None) -> None:
        record = RR(
            DNSLabel(name.encode()), rtype, ttl=self.ttl if ttl is None else ttl, rdata=rdata
        )
        self.by_name[name].setdefault(rtype, []).append(record)

    def address(self, name: str, address: IpAddress) -> None:
        if address.version == 4:
            self.add(name, QTYPE.A, A(str(address)))
        else:
            self.add(name, QTYPE.AAAA, AAAA(str(address)))

    def apex(self, origin: str, ns_target: str, domain: str, serial: int) -> None:
        """SOA and NS; `domain` is the cluster's, where hostmaster lives."""
        if QTYPE.SOA in self.by_name.get(origin, {}):
            return
        times = (serial, *SOA_TIMES, NEGATIVE_TTL)
        self.add(origin, QTYPE.SOA, SOA(_label(ns_target), _label(f"hostmaster.{domain}"), times))
        self.add(origin, QTYPE.NS, NS(_label(ns_target)))

    def records(self) -> Iterable[RR]:
        for by_type in self.by_name.values():
            for rrs in by_type.values():
                yield from rrs


def _label(name: str) -> DNSLabel:
    return DNSLabel(name.encode())


def _read_clusters(session: Session) -> dict[int, _ClusterRow]:
    rows = session.execute(
        select(Cluster.id, Cluster.name, Cluster.domain, Cluster.settings).order_by(Cluster.name)
    )
    clusters = {row.id: _ClusterRow(row.name, row.domain.lower(), row.settings) for row in rows}
    for cluster_id, cidr in session.execute(
        select(ClusterNetwork.cluster_id, ClusterNetwork.cidr).order_by(ClusterNetwork.name)
    ):
        clusters[cluster_id].networks.append(ipaddress.ip_network(cidr, strict=False))
    return clusters


def _read_nodes(session: Session) -> list[_NodeRow]:
    rows = session.execute(
        select(Node.id, Node.hostname, Node.cluster_id, Node.roles, Node.facts)
        .where(Node.cluster_id.is_not(None))
        .order_by(Node.hostname)
    )
    nodes = {row.id: _NodeRow(row.hostname, row.cluster_id, row.roles, row.facts) for row in rows}
    addresses = session.execute(
        select(Interface.node_id, Interface.name, Interface.ip)
        .where(Interface.ip.is_not(None))
        .order_by(Interface.node_id, Interface.name)
    )
    for node_id, ifname, ip in addresses:
        node = nodes.get(node_id)
        if node is not None and ip is not None:
            address = ipaddress.ip_address(ip)
            label = ifname.lower().replace(".", "-")
            node.addresses.append(_Address(label, address, address.reverse_pointer))
    return list(nodes.values())


class _FleetBuilder:
    def __init__(self, site: DnsSite, serial: int) -> None:
        self.site = site
        self.serial = serial
        self.out = _Records(site.ttl)
        self.server_address: IpAddress | None
        try:
            self.server_address = ipaddress.ip_address(site.server)
        except ValueError:
            self.server_address = None
        # forward zone -> NS target; reverse zone -> the domain that brought it
        self.forward: dict[str, str] = {}
        self.reverse: dict[str, str] = {}
        # Every name that has records or children, once aliases are added.
        self.occupied: set[str] | None = None

    def ns_target(self, domain: str) -> str:
        if self.server_address is None:
            return self.site.server.lower().rstrip(".")
        return f"{SELF_LABEL}.{domain}"

    def cluster(self, cluster: _ClusterRow) -> None:
        domain = cluster.domain
        for network in cluster.networks:
            for origin in reverse_zones(network):
                self.reverse.setdefault(origin, domain)
        if domain in self.forward:
            return
        target = self.ns_target(domain)
        self.forward[domain] = target
        self.out.apex(domain, target, domain, self.serial)
        if self.server_address is not None:
            self.out.address(target, self.server_address)
        site = self.site
        services = [(f"_{site.http_scheme}._tcp", site.http_port)]
        if site.tftp_port is not None:
            services.append(("_tftp._udp", site.tftp_port))
        if site.dns_port is not None:
            services += [("_domain._udp", site.dns_port), ("_domain._tcp", site.dns_port)]
        for service, port in services:
            self.out.add(f"{service}.{domain}", QTYPE.SRV, SRV(0, 0, port, _label(target)))

    def node(self, node: _NodeRow, domain: str) -> None:
        host = f"{node.hostname}.{domain}"
        if host == self.forward[domain]:
            self.out.skipped.append(f"{host}: the name is bootsvc's own")
            return
        for address in node.addresses:
            self.out.address(host, address.ip)
            self.out.address(f"{address.ifname}.{host}", address.ip)
            self.out.add(address.reverse, QTYPE.PTR, PTR(_label(host)))

    def monitors(self, nodes: list[_NodeRow], domain: str) -> None:
        owner = f"{MON_SERVICE}.{domain}"
        for node in nodes:
            if MON_ROLE in node.roles and node.addresses:
                target = _label(f"{node.hostname}.{domain}")
                for port, priority in MON_PORTS:
                    self.out.add(owner, QTYPE.SRV, SRV(priority, 0, port, target))

    def reverse_apexes(self, nodes: list[_NodeRow], clusters: dict[int, _ClusterRow]) -> None:
        for node in nodes:
            domain = clusters[node.cluster_id].domain
            for address in node.addresses:
                if self._reverse_zone(address.reverse) is None:
                    self.reverse[address.reverse] = domain
        for origin, domain in self.reverse.items():
            self.out.apex(origin, self.forward[domain], domain, self.serial)

    def _reverse_zone(self, name: str) -> str | None:
        labels = name.split(".")
        for depth in range(len(labels)):
            suffix = ".".join(labels[depth:])
            if suffix in self.reverse:
                return suffix
        return None

    def aliases(self, cluster: _ClusterRow, members: list[_NodeRow]) -> None:
        domain = cluster.domain
        for node in members:
            aliases = node.facts.get("dns_aliases", [])
            for alias in aliases if isinstance(aliases, list) else [aliases]:
                host = f"{node.hostname}.{domain}."
                self.alias(alias, host, domain, f"node {node.hostname} dns_aliases")
        cnames = cluster.settings.get("dns_cnames", {})
        if not isinstance(cnames, dict):
            self.out.skipped.append(f"cluster {cluster.name} dns_cnames: not a map")
            return
        for alias, target in cnames.items():
            self.alias(alias, target, domain, f"cluster {cluster.name} dns_cnames")

    def alias(self, alias: Any, target: Any, domain: str, where: str) -> None:
        """A CNAME from the CMDB: kept only if both names are valid, the alias
        is ours and it hides no other record."""
        if not isinstance(alias, str) or not isinstance(target, str):
            self.out.skipped.append(f"{where}: aliases and targets must be strings")
            return
        alias_name = _absolute(alias, domain)
        target_name = _absolute(target, domain)
        if alias_name is None or target_name is None:
            self.out.skipped.append(f"{where}: {alias!r} -> {target!r} is not a valid name")
            return
        if not any(alias_name == zone or alias_name.endswith("." + zone) for zone in self.forward):
            self.out.skipped.append(f"{where}: {alias_name} is outside the fleet's zones")
            return
        if self.occupied is None:
            self.occupied = {suffix for name in self.out.by_name for suffix in _suffixes(name)}
        if alias_name in self.occupied:
            self.out.skipped.append(f"{where}: {alias_name} already has records")
            return
        self.out.add(alias_name, QTYPE.CNAME, CNAME(_label(target_name)))
        self.occupied.update(_suffixes(alias_name))


def _suffixes(name: str) -> Iterable[str]:
    labels = name.split(".")
    return (".".join(labels[depth:]) for depth in range(len(labels)))


def _absolute(name: str, domain: str) -> str | None:
    full = name if name.endswith(".") else f"{name}.{domain}"
    return dns_name(full)


def build(session: Session, site: DnsSite, serial: int) -> FleetZones:
    clusters = _read_clusters(session)
    nodes = _read_nodes(session)
    builder = _FleetBuilder(site, serial)
    for cluster in clusters.values():
        builder.cluster(cluster)
    members: dict[int, list[_NodeRow]] = defaultdict(list)
    for node in nodes:
        members[node.cluster_id].append(node)
        builder.node(node, clusters[node.cluster_id].domain)
    for cluster_id, cluster in clusters.items():
        builder.monitors(members[cluster_id], cluster.domain)
    builder.reverse_apexes(nodes, clusters)
    # Aliases last: one that would hide any other record is left out.
    for cluster_id, cluster in clusters.items():
        builder.aliases(cluster, members[cluster_id])
    return FleetZones(ZoneSet(builder.out.records()), serial, builder.out.skipped)
