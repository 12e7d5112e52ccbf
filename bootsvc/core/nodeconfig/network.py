"""A node's network: which links systemd-networkd configures and how, and
the Open vSwitch bridges, bonds and ports a oneshot unit creates at boot.

The layout is the cluster setting `network`, which a node's fact `network`
overrides key by key (a node with other NIC names, say):

    network:
      bonds:                  # Linux bonds, made by systemd-networkd
        bond0: {interfaces: [eth0, eth1], mode: 802.3ad}
      bridges:                # Open vSwitch bridges
        br-ex:
          ports: [bond0]      # uplinks: interfaces or Linux bonds
          bonds:              # OVS bonds as uplinks
            ovsbond0: {interfaces: [eth2, eth3], mode: balance-slb}
          networks: [mgmt, storage]   # addresses on internal ports, tagged with the VLAN
        br-ring: {ports: [eth4], networks: [ring]}
      links:                  # networks straight on an interface or Linux bond
        eth5: [backup]        # (a VLAN link when the network has a VLAN)

Interface names are the CMDB's, which must be the names the booted image
gives the NICs; networkd matches them by name and permanent MAC. A node's
address on a network is the IP of its interface inside the network's CIDR,
or `facts.addresses.NETWORK` for addresses on virtual ports. An interface
with an IP that the layout does not mention keeps that address (DHCP when
the IP is in no cluster network). When the layout has bridges, the corosync
ring network gets a bridge of its own. Anything that does not fit is a
Problem naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError

from bootsvc.core.cmdb import names
from bootsvc.core.nodeconfig.clustersettings import NetworkName, Section, problem_of
from bootsvc.core.nodeconfig.inputs import ClusterInfo, ClusterSubnet, Iface, Member
from bootsvc.core.nodeconfig.problems import Problem
from bootsvc.errors import InvalidInput

IfName = Annotated[str, AfterValidator(names.interface_name)]


class LinuxBond(Section):
    interfaces: list[IfName] = Field(min_length=1)
    mode: Literal[
        "active-backup",
        "balance-rr",
        "balance-xor",
        "broadcast",
        "802.3ad",
        "balance-tlb",
        "balance-alb",
    ] = "active-backup"


class OvsBond(Section):
    interfaces: list[IfName] = Field(min_length=2)
    mode: Literal["active-backup", "balance-slb", "balance-tcp"] = "active-backup"
    lacp: Literal["active", "passive", "off"] = "off"


class Bridge(Section):
    ports: list[IfName] = Field(default_factory=list)
    bonds: dict[IfName, OvsBond] = Field(default_factory=dict)
    networks: list[NetworkName] = Field(default_factory=list)


class Layout(Section):
    bonds: dict[IfName, LinuxBond] = Field(default_factory=dict)
    bridges: dict[IfName, Bridge] = Field(default_factory=dict)
    links: dict[IfName, list[NetworkName]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """One link systemd-networkd configures. `kind` is ether, bond, vlan or
    ovs-internal; a link that is a bond member or an OVS port carries no
    address (`port_only`)."""

    name: str
    kind: str
    mac: str | None = None
    bond: str | None = None
    bond_mode: str | None = None
    members: tuple[str, ...] = ()
    vlan_id: int | None = None
    parent: str | None = None
    vlans: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    dhcp: bool = False
    port_only: bool = False

    @property
    def has_netdev(self) -> bool:
        return self.kind in {"bond", "vlan"}


@dataclass(frozen=True)
class OvsBondPlan:
    name: str
    interfaces: tuple[str, ...]
    mode: str
    lacp: str


@dataclass(frozen=True)
class InternalPort:
    name: str
    tag: int | None


@dataclass(frozen=True)
class OvsBridge:
    name: str
    ports: tuple[str, ...]
    bonds: tuple[OvsBondPlan, ...]
    internal: tuple[InternalPort, ...]


@dataclass(frozen=True)
class NetworkPlan:
    links: tuple[Link, ...] = ()
    bridges: tuple[OvsBridge, ...] = ()
    addresses: Mapping[str, str] = field(default_factory=dict)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value)
        return merged
    return override if override is not None else base


def layout_of(cluster: ClusterInfo, node: Member) -> Layout:
    raw = _merge(cluster.settings.get("network", {}), node.facts.get("network"))
    source = "cluster" if "network" not in node.facts else "cluster settings and node facts of"
    if not isinstance(raw, dict):
        raise Problem(f"cluster {cluster.name}: setting network must be a mapping", "network")
    try:
        return Layout.model_validate(raw)
    except ValidationError as exc:
        raise problem_of(exc, cluster.name, "network", source) from None


class _Planner:
    def __init__(self, cluster: ClusterInfo, node: Member, ring: str | None) -> None:
        self.cluster = cluster
        self.node = node
        self.ring = ring
        self.layout = layout_of(cluster, node)
        self.ifaces: dict[str, Iface] = {i.name: i for i in node.interfaces}
        self.networks: dict[str, ClusterSubnet] = {n.name: n for n in cluster.networks}
        self.used: dict[str, str] = {}
        self.placed: dict[str, str] = {}
        self.on_link: dict[str, list[str]] = {}

    def _interface(self, name: str, setting: str) -> None:
        if name not in self.ifaces:
            have = ", ".join(sorted(self.ifaces)) or "none"
            raise Problem(
                f"{self.node.hostname} has no interface {name} (it has {have})", setting=setting
            )

    def _claim(self, name: str, by: str, setting: str) -> None:
        if name in self.used:
            raise Problem(f"{name} is used by {self.used[name]} and by {by}", setting=setting)
        self.used[name] = by

    def _check_names(self) -> None:
        """Bonds, bridges and the links named after networks (VLANs and
        internal ports) must not take an interface's name, or each other's."""
        made = [(name, "bond") for name in self.layout.bonds]
        for name, bridge in self.layout.bridges.items():
            made.append((name, "bridge"))
            made += [(bond, "OVS bond") for bond in bridge.bonds]
        for network, where in self.placed.items():
            if where.startswith("bridge ") or self.networks[network].vlan is not None:
                made.append((network, f"the link of network {network} on {where}"))
        seen: dict[str, str] = dict.fromkeys(self.ifaces, "an interface")
        for name, what in made:
            try:
                names.interface_name(name)
            except InvalidInput as exc:
                raise Problem(f"{what}: {exc.message}", "network") from None
            if name in seen:
                raise Problem(f"{what} {name} has the name of {seen[name]}", "network")
            seen[name] = what

    def _place(self, network: str, where: str, setting: str) -> None:
        if network not in self.networks:
            have = ", ".join(sorted(self.networks)) or "none"
            raise Problem(
                f"cluster {self.cluster.name} has no network {network} (it has {have})", setting
            )
        if network in self.placed:
            raise Problem(f"network {network} is on {self.placed[network]} and on {where}", setting)
        self.placed[network] = where

    def _check_fact_addresses(self) -> None:
        for network, ip in self.node.fact_addresses().items():
            setting = f"facts.addresses.{network}"
            found = self.networks.get(str(network))
            if found is None:
                raise Problem(
                    f"{self.node.hostname} has an address for {network}, "
                    f"which is no network of cluster {self.cluster.name}",
                    setting,
                )
            if not isinstance(ip, str) or not found.holds(ip):
                raise Problem(
                    f"{self.node.hostname}'s address {ip!r} is not in network "
                    f"{network} ({found.cidr})",
                    setting,
                )

    def _address(self, network: str, setting: str) -> str:
        found = self.networks[network]
        ip = self.node.address_in(found)
        if ip is None:
            raise Problem(
                f"{self.node.hostname} has no address in network {network} ({found.cidr}): "
                f"give an interface an IP there, or set facts addresses.{network}",
                setting,
            )
        return ip

    def _layout(self) -> None:
        for name, bond in self.layout.bonds.items():
            setting = f"network.bonds.{name}"
            for member in bond.interfaces:
                self._interface(member, setting)
                self._claim(member, f"bond {name}", setting)
        carriers = set(self.ifaces) | set(self.layout.bonds)
        for name, bridge in self.layout.bridges.items():
            setting = f"network.bridges.{name}"
            for port in bridge.ports:
                if port not in carriers:
                    self._interface(port, f"{setting}.ports")
                self._claim(port, f"bridge {name}", f"{setting}.ports")
            for bond_name, ovs_bond in bridge.bonds.items():
                for member in ovs_bond.interfaces:
                    self._interface(member, f"{setting}.bonds.{bond_name}")
                    self._claim(member, f"OVS bond {bond_name}", f"{setting}.bonds.{bond_name}")
            for network in bridge.networks:
                self._place(network, f"bridge {name}", f"{setting}.networks")
        for carrier, networks in self.layout.links.items():
            setting = f"network.links.{carrier}"
            if carrier not in carriers:
                self._interface(carrier, setting)
            if carrier in self.used:
                raise Problem(
                    f"{carrier} is a port of {self.used[carrier]} and cannot carry networks",
                    setting,
                )
            for network in networks:
                self._place(network, f"link {carrier}", setting)
                self.on_link.setdefault(carrier, []).append(network)

    def _implicit(self) -> dict[str, bool]:
        """Interfaces with an IP that the layout leaves alone keep it; those
        whose IP is in no cluster network use DHCP (value True)."""
        dhcp: dict[str, bool] = {}
        for iface in self.node.interfaces:
            if not iface.ip or iface.name in self.on_link:
                continue
            network = next((n for n in self.networks.values() if n.holds(iface.ip)), None)
            if iface.name in self.used:
                if network is None or network.name not in self.placed:
                    where = f" (network {network.name})" if network else ""
                    raise Problem(
                        f"{iface.name} is a port of {self.used[iface.name]}: its address "
                        f"{iface.ip}{where} would be lost; put that network on a bridge or link",
                        "network",
                    )
                continue
            if network is None:
                dhcp[iface.name] = True
            elif network.name not in self.placed:
                self._place(network.name, f"link {iface.name}", "network")
                self.on_link.setdefault(iface.name, []).append(network.name)
                dhcp[iface.name] = False
        return dhcp

    def _check_ring(self) -> None:
        if not self.layout.bridges or self.ring is None or self.ring not in self.networks:
            return
        where = self.placed.get(self.ring, "no bridge")
        bridge = self.layout.bridges.get(where.removeprefix("bridge "))
        if not where.startswith("bridge ") or bridge is None or bridge.networks != [self.ring]:
            raise Problem(
                f"the ring network {self.ring} needs an Open vSwitch bridge of its own "
                f"(it is on {where})",
                "network.bridges",
            )

    def _carrier_link(self, name: str, dhcp: bool) -> Link:
        addresses: list[str] = []
        gateways: list[str] = []
        vlans: list[str] = []
        for network_name in self.on_link.get(name, []):
            network = self.networks[network_name]
            if network.vlan is not None:
                vlans.append(network_name)
                continue
            ip = self._address(network_name, f"network.links.{name}")
            addresses.append(f"{ip}/{network.prefixlen}")
            if network.gateway:
                gateways.append(network.gateway)
        iface = self.ifaces.get(name)
        bond = self.layout.bonds.get(name)
        used = self.used.get(name, "")
        return Link(
            name=name,
            kind="bond" if bond else "ether",
            mac=iface.mac if iface else None,
            bond=used.removeprefix("bond ") if used.startswith("bond ") else None,
            bond_mode=bond.mode if bond else None,
            members=tuple(bond.interfaces) if bond else (),
            vlans=tuple(vlans),
            addresses=tuple(addresses),
            gateways=tuple(gateways),
            dhcp=dhcp,
            port_only=bool(used),
        )

    def _addressed(
        self, network_name: str, kind: str, setting: str, parent: str | None = None
    ) -> Link:
        network = self.networks[network_name]
        ip = self._address(network_name, setting)
        return Link(
            name=network_name,
            kind=kind,
            vlan_id=network.vlan,
            parent=parent,
            addresses=(f"{ip}/{network.prefixlen}",),
            gateways=(network.gateway,) if network.gateway else (),
        )

    def plan(self) -> NetworkPlan:
        self._check_fact_addresses()
        self._layout()
        dhcp = self._implicit()
        for network in self.node.fact_addresses():
            if network not in self.placed:
                raise Problem(
                    f"{self.node.hostname} has an address in network {network}, which no "
                    "bridge or link carries: put the network on one",
                    f"facts.addresses.{network}",
                )
        self._check_names()
        self._check_ring()
        links: list[Link] = []
        carriers = sorted(set(self.used) | set(self.on_link) | set(dhcp) | set(self.layout.bonds))
        for name in carriers:
            if name in self.layout.bridges:
                continue
            links.append(self._carrier_link(name, dhcp.get(name, False)))
        bridges = []
        for name, bridge in self.layout.bridges.items():
            internal = []
            for network_name in bridge.networks:
                setting = f"network.bridges.{name}.networks"
                links.append(self._addressed(network_name, "ovs-internal", setting))
                internal.append(InternalPort(network_name, self.networks[network_name].vlan))
            bonds = tuple(
                OvsBondPlan(bond_name, tuple(bond.interfaces), bond.mode, bond.lacp)
                for bond_name, bond in bridge.bonds.items()
            )
            bridges.append(OvsBridge(name, tuple(bridge.ports), bonds, tuple(internal)))
        for carrier, networks in self.on_link.items():
            for network_name in networks:
                if self.networks[network_name].vlan is not None:
                    setting = f"network.links.{carrier}"
                    links.append(self._addressed(network_name, "vlan", setting, carrier))
        addresses = {
            name: ip
            for name, network in self.networks.items()
            if (ip := self.node.address_in(network)) is not None
        }
        return NetworkPlan(tuple(links), tuple(bridges), addresses)


def plan(cluster: ClusterInfo | None, node: Member, ring: str | None) -> NetworkPlan:
    """The node's network; a node without a cluster keeps the image's own."""
    if cluster is None:
        return NetworkPlan()
    try:
        return _Planner(cluster, node, ring).plan()
    except InvalidInput as exc:
        raise Problem(exc.message, "network") from None
