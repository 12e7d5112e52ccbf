"""The subnets bootsvc serves in authoritative mode: the one in the settings
and the CMDB's cluster networks, each with its pool and the options every
client on it gets.

A cluster network has a pool when its cluster's setting `dhcp_pools` names
one, e.g. `dhcp_pools: {prov: 10.0.0.100-10.0.0.199}`; without one it serves
only the node addresses the CMDB reserves.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from bootsvc.net.dhcp import options as opt
from bootsvc.settings import Settings


@dataclass(frozen=True)
class Network:
    name: str
    subnet: IPv4Network
    pool: tuple[IPv4Address, IPv4Address] | None
    lease_seconds: int
    router: str | None = None
    dns: tuple[str, ...] = ()
    ntp: tuple[str, ...] = ()
    domain: str | None = None
    # Options 1, 3, 6, 15, 28, 42 as sent, and the same with the lease
    # times (51, 58, 59) for replies that give an address.
    options: dict[int, bytes] = field(init=False, compare=False)
    leased_options: dict[int, bytes] = field(init=False, compare=False)
    # The subnet as text: how leases in the database name their network.
    key: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        values = {
            opt.SUBNET_MASK: opt.ip(str(self.subnet.netmask)),
            opt.BROADCAST_ADDRESS: opt.ip(str(self.subnet.broadcast_address)),
        }
        if self.router:
            values[opt.ROUTER] = opt.ip(self.router)
        if self.dns:
            values[opt.DNS_SERVERS] = opt.ips(self.dns)
        if self.ntp:
            values[opt.NTP_SERVERS] = opt.ips(self.ntp)
        if self.domain:
            values[opt.DOMAIN_NAME] = opt.text(self.domain)
        object.__setattr__(self, "options", values)
        seconds = self.lease_seconds
        leased = {
            **values,
            opt.LEASE_TIME: opt.u32(seconds),
            opt.RENEWAL_TIME: opt.u32(seconds // 2),
            opt.REBINDING_TIME: opt.u32(seconds * 7 // 8),
        }
        object.__setattr__(self, "leased_options", leased)
        object.__setattr__(self, "key", str(self.subnet))

    def contains(self, ip: str) -> bool:
        return IPv4Address(ip) in self.subnet

    def in_pool(self, ip: str) -> bool:
        return self.pool is not None and self.pool[0] <= IPv4Address(ip) <= self.pool[1]


def address_int(ip: str) -> int:
    """A dotted quad as an integer, for arithmetic on pool positions."""
    return int.from_bytes(socket.inet_aton(ip), "big")


def int_address(value: int) -> str:
    return socket.inet_ntoa(value.to_bytes(4, "big"))


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item for item in value.split(",") if item)


def parse_pool(value: str) -> tuple[IPv4Address, IPv4Address]:
    first, _, last = value.partition("-")
    return IPv4Address(first.strip()), IPv4Address(last.strip())


def from_settings(settings: Settings) -> list[Network]:
    if not settings.dhcp_subnet:
        return []
    return [
        Network(
            name="settings",
            subnet=IPv4Network(settings.dhcp_subnet),
            pool=parse_pool(settings.dhcp_pool) if settings.dhcp_pool else None,
            lease_seconds=settings.dhcp_lease_seconds,
            router=settings.dhcp_router or None,
            dns=_csv(settings.dhcp_dns),
            ntp=_csv(settings.dhcp_ntp),
            domain=settings.dhcp_domain or None,
        )
    ]


@dataclass(frozen=True)
class CmdbNetwork:
    """A cluster network row as the CMDB stores it."""

    cluster: str
    name: str
    cidr: str
    gateway: str | None
    domain: str
    # The cluster's `dhcp_pools` setting: network name -> "FIRST-LAST".
    pools: dict[str, Any]


def _cluster_pool(value: Any, subnet: IPv4Network) -> tuple[IPv4Address, IPv4Address] | None:
    if not isinstance(value, str):
        return None
    try:
        pool = parse_pool(value)
    except ValueError:
        return None
    return pool if pool[0] in subnet and pool[1] in subnet and pool[0] <= pool[1] else None


def from_cmdb(rows: Iterable[CmdbNetwork], settings: Settings) -> list[Network]:
    """IPv4 cluster networks; a pool that is malformed or outside its network
    is left out (the network then serves reservations only)."""
    found = []
    for row in rows:
        subnet = ipaddress.ip_network(row.cidr)
        if not isinstance(subnet, IPv4Network):
            continue
        pool = _cluster_pool(row.pools.get(row.name), subnet)
        found.append(
            Network(
                name=f"{row.cluster}/{row.name}",
                subnet=subnet,
                pool=pool,
                lease_seconds=settings.dhcp_lease_seconds,
                router=row.gateway or settings.dhcp_router or None,
                dns=_csv(settings.dhcp_dns),
                ntp=_csv(settings.dhcp_ntp),
                domain=row.domain,
            )
        )
    return found


def select_network(networks: Sequence[Network], address: str) -> Network | None:
    """The network a client is on: the one holding the relay's address, or
    ours when it is not relayed. The first match wins (settings come first)."""
    return next((network for network in networks if network.contains(address)), None)
