"""What templates see: the node, its cluster, every member in hostname order,
the cluster settings (checked on first use), the node's network plan, and
helpers for corosync, Ceph and Pacemaker. Helpers raise Problems when
called, so that a missing setting or address is reported at the template
line that needed it."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, cast

from bootsvc.core.boot import agentfiles
from bootsvc.core.nodeconfig import network as netplan
from bootsvc.core.nodeconfig.clustersettings import (
    CephSettings,
    CorosyncSettings,
    PacemakerSettings,
    SettingsView,
    StateSettings,
)
from bootsvc.core.nodeconfig.inputs import ClusterInfo, ClusterSubnet, Member, Snapshot
from bootsvc.core.nodeconfig.problems import Problem
from bootsvc.errors import NotFound
from bootsvc.settings import Settings

# Messenger v2 and v1 ports of a Ceph monitor.
MON_V2_PORT = 3300
MON_V1_PORT = 6789


def agent_values(settings: Settings | None = None) -> dict[str, Any]:
    """What the node agent's templates (bootsvc.core.boot.agentfiles) need from
    the site's settings; the settings' defaults when none are given."""
    chosen = settings or Settings.model_construct(data_dir=Path())
    return agentfiles.context(chosen)


@dataclass(frozen=True)
class BootInfo:
    """What the iPXE script knew when it sent the node here: where bootsvc
    is, which MAC booted, and the image version it is loading."""

    url: str
    mac: str | None = None
    image: str | None = None
    version: str | None = None


def _network(cluster: ClusterInfo, name: str, setting: str) -> ClusterSubnet:
    found = cluster.network(name)
    if found is None:
        have = ", ".join(n.name for n in cluster.networks) or "none"
        raise Problem(
            f"cluster {cluster.name} has no network {name} (it has {have})", setting=setting
        )
    return found


def _no_address(hostname: str, network: ClusterSubnet, setting: str) -> Problem:
    return Problem(
        f"member {hostname} has no address in network {network.name} "
        f"({network.cidr}): give an interface an IP there, or set facts "
        f"addresses.{network.name}",
        setting=setting,
    )


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CorosyncNode(NamedTuple):
    """A tuple: a cold render makes one per member, and a frozen dataclass
    costs several times more to build."""

    name: str
    nodeid: int
    ring0_addr: str


_NODELIST_ENTRY = (
    "    node {{\n        name: {}\n        nodeid: {}\n        ring0_addr: {}\n    }}"
)


class Corosync:
    def __init__(self, snapshot: Snapshot, cluster: ClusterInfo, settings: Any) -> None:
        self.snapshot = snapshot
        self.cluster = cluster
        self.settings: CorosyncSettings = settings.corosync

    @property
    def ring(self) -> ClusterSubnet:
        return _network(self.cluster, self.settings.ring, "corosync.ring")

    @property
    def nodes(self) -> list[CorosyncNode]:
        """The same for every member: worked out once per snapshot."""
        ring = self.ring
        return self.snapshot.shared(
            ("corosync.nodes", ring),
            lambda: list(map(CorosyncNode, self.snapshot.hostnames, *self._complete(ring))),
        )

    @property
    def nodelist(self) -> str:
        """The nodelist's `node { }` entries, as text: the built-in
        corosync.conf prints them instead of looping over `nodes` (a Jinja
        loop over 1,000 members costs a millisecond or more per render; a
        site template that loops still works)."""
        ring = self.ring
        return self.snapshot.shared(
            ("corosync.nodelist", ring),
            lambda: "\n".join(
                map(_NODELIST_ENTRY.format, self.snapshot.hostnames, *self._complete(ring))
            ),
        )

    def _complete(self, ring: ClusterSubnet) -> tuple[list[int], list[str]]:
        """Each member's nodeid and ring address, once every member is known
        to have both (a Problem names the first that does not)."""
        snapshot = self.snapshot
        addresses = snapshot.addresses_in(ring)
        if None in snapshot.nodeids or None in addresses:
            for hostname, nodeid, address in zip(
                snapshot.hostnames, snapshot.nodeids, addresses, strict=True
            ):
                if nodeid is None:
                    raise Problem(f"member {hostname} has no corosync nodeid")
                if address is None:
                    raise _no_address(hostname, ring, f"addresses.{ring.name}")
        return cast(list[int], snapshot.nodeids), cast(list[str], addresses)

    @property
    def two_node(self) -> bool:
        return len(self.snapshot) == 2

    @property
    def token_ms(self) -> int | None:
        return self.settings.token_ms


class Ceph:
    def __init__(self, cluster: ClusterInfo, snapshot: Snapshot, settings: Any) -> None:
        self.cluster = cluster
        self.snapshot = snapshot
        self._settings = settings

    @cached_property
    def settings(self) -> CephSettings:
        found: CephSettings = self._settings.ceph
        return found

    @property
    def fsid(self) -> str:
        return self.settings.fsid or self.cluster.fsid

    @property
    def public(self) -> ClusterSubnet:
        return _network(self.cluster, self.settings.public_network, "ceph.public_network")

    @property
    def cluster_network(self) -> ClusterSubnet | None:
        name = self.settings.cluster_network
        return None if name is None else _network(self.cluster, name, "ceph.cluster_network")

    @property
    def monitors(self) -> list[str]:
        """mon_host entries, v2 and v1 address of each monitor. The same for
        every member: worked out once per snapshot."""
        public = self.public
        return self.snapshot.shared(("ceph.monitors", public), lambda: self._monitors(public))

    def _monitors(self, public: ClusterSubnet) -> list[str]:
        return [address for _, address in self.monmap]

    @property
    def monmap(self) -> list[tuple[str, str]]:
        """Each monitor's name (its hostname) and addresses, as a first
        monmap names them: the monitors make their stores from it."""
        public = self.public
        return self.snapshot.shared(("ceph.monmap", public), lambda: self._monmap(public))

    def _monmap(self, public: ClusterSubnet) -> list[tuple[str, str]]:
        snapshot = self.snapshot
        addresses = snapshot.addresses_in(public)
        found = []
        for i in [i for i, roles in enumerate(snapshot.roles) if "ceph-mon" in roles]:
            ip = addresses[i]
            if ip is None:
                raise _no_address(snapshot.hostnames[i], public, f"addresses.{public.name}")
            host = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
            address = f"[v2:{host}:{MON_V2_PORT}/0,v1:{host}:{MON_V1_PORT}/0]"
            found.append((snapshot.hostnames[i], address))
        if not found:
            raise Problem(
                f"cluster {self.cluster.name} has ceph settings but no member with role ceph-mon"
            )
        return found

    @property
    def sections(self) -> list[str]:
        """Sections other than [global] that the overrides add."""
        return sorted(name for name in self.settings.overrides if name != "global")

    def options(self, section: str) -> list[tuple[str, str]]:
        chosen = self.settings.overrides.get(section, {})
        return [(key, _value(value)) for key, value in sorted(chosen.items())]

    @property
    def libvirt_pool(self) -> str:
        return self.settings.libvirt_pool


STATE_LABEL = "bootsvc-state"
_DEVICE = re.compile(r"/dev/[A-Za-z0-9][A-Za-z0-9/_.:+-]*")


def _device(hostname: str, fact: str, value: Any) -> str:
    if not isinstance(value, str) or not _DEVICE.fullmatch(value) or "/../" in f"{value}/":
        raise Problem(f"node {hostname}: fact {fact} {value!r} is not a device path (/dev/...)")
    return value


class Disks:
    """The node's local disks as its facts name them: the device its state
    partition is made on (`state: {device: ...}`) and, on `ceph-osd` nodes,
    its OSD devices (`ceph: {osd_devices: [...]}`)."""

    def __init__(self, node: Member, settings: Any) -> None:
        self.node = node
        self._settings = settings

    @property
    def label(self) -> str:
        return STATE_LABEL

    @property
    def state_device(self) -> str | None:
        given = self.node.facts.get("state")
        if not isinstance(given, dict) or given.get("device") is None:
            return None
        return _device(self.node.hostname, "state.device", given["device"])

    @property
    def osd_devices(self) -> list[str]:
        given = self.node.facts.get("ceph")
        if not self.node.has_role("ceph-osd") or not isinstance(given, dict):
            return []
        devices = given.get("osd_devices", [])
        if not isinstance(devices, list):
            raise Problem(f"node {self.node.hostname}: fact ceph.osd_devices must be a list")
        return [_device(self.node.hostname, "ceph.osd_devices", d) for d in devices]

    @property
    def state_paths(self) -> list[str]:
        chosen: StateSettings = self._settings.state
        return chosen.paths


class Pacemaker:
    def __init__(self, settings: Any) -> None:
        self._settings = settings

    @cached_property
    def settings(self) -> PacemakerSettings:
        found: PacemakerSettings = self._settings.pacemaker
        return found

    @property
    def properties(self) -> list[tuple[str, str]]:
        chosen: dict[str, Any] = dict(self.settings.properties)
        chosen["stonith-enabled"] = self.settings.stonith_enabled
        if self.settings.stonith_timeout is not None:
            chosen["stonith-timeout"] = self.settings.stonith_timeout
        if self.settings.no_quorum_policy is not None:
            chosen["no-quorum-policy"] = self.settings.no_quorum_policy
        return [(key, _value(value)) for key, value in sorted(chosen.items())]

    @property
    def resource_defaults(self) -> list[tuple[str, str]]:
        return [(k, _value(v)) for k, v in sorted(self.settings.resource_defaults.items())]

    @property
    def digest(self) -> str:
        """Names what is set, so the oneshot can tell it has already run."""
        text = json.dumps([self.properties, self.resource_defaults])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def member_hosts(snapshot: Snapshot, domain: str) -> str:
    """/etc/hosts lines of every member, as text. The same for every member,
    so worked out once per snapshot; the built-in hosts template prints it
    instead of looping over `members`."""
    return snapshot.shared(
        ("hosts", domain),
        lambda: "\n".join(
            f"{address}\t{hostname}.{domain} {hostname}"
            if address
            else f"# {hostname}: no address in the CMDB"
            for hostname, address in zip(snapshot.hostnames, snapshot.main_addresses, strict=True)
        ),
    )


class NodeContext:
    """One node's render: the values every template gets, and the facts the
    file list is decided on."""

    def __init__(
        self,
        snapshot: Snapshot,
        hostname: str,
        boot: BootInfo,
        agent: Mapping[str, Any] | None = None,
    ) -> None:
        node = snapshot.member(hostname)
        if node is None:
            raise NotFound(f"node {hostname!r} does not exist")
        self.node = node
        self.snapshot = snapshot
        self.cluster = snapshot.cluster
        self.members = snapshot.members
        self.boot = boot
        self.agent = agent if agent is not None else agent_values()
        self.settings = SettingsView(
            self.cluster.name if self.cluster else hostname,
            self.cluster.settings if self.cluster else {},
        )

    @cached_property
    def corosync(self) -> Corosync | None:
        """A cluster runs corosync and Pacemaker when it has its ring network."""
        if self.cluster is None:
            return None
        found = Corosync(self.snapshot, self.cluster, self.settings)
        if self.cluster.network(found.settings.ring) is None:
            return None
        return found

    @cached_property
    def ceph(self) -> Ceph | None:
        """bootsvc configures Ceph for a cluster that has `ceph` settings;
        the roles of its members choose the keyrings. (Roles alone do not:
        a site may run Ceph by other means.)"""
        if self.cluster is None or not self.settings.has("ceph"):
            return None
        return Ceph(self.cluster, self.snapshot, self.settings)

    @cached_property
    def disks(self) -> Disks | None:
        """A node keeps local state when its facts name a state device, or
        when it runs Ceph daemons, which need it (and say so when it is not
        there)."""
        ceph_daemon = self.node.has_role("ceph-mon") or self.node.has_role("ceph-osd")
        if "state" in self.node.facts or (self.ceph is not None and ceph_daemon):
            return Disks(self.node, self.settings)
        return None

    @cached_property
    def pacemaker(self) -> Pacemaker:
        return Pacemaker(self.settings)

    @cached_property
    def net(self) -> netplan.NetworkPlan:
        ring = self.corosync.settings.ring if self.corosync else None
        return netplan.plan(self.cluster, self.node, ring)

    def values(self) -> dict[str, Any]:
        return {
            "member_hosts": member_hosts(self.snapshot, self.cluster.domain)
            if self.cluster
            else "",
            "node": self.node,
            "cluster": self.cluster,
            "members": self.members,
            "settings": self.settings,
            "net": self.net,
            "boot": self.boot,
            "corosync": self.corosync,
            "ceph": self.ceph,
            "disks": self.disks,
            "pacemaker": self.pacemaker,
            "agent": self.agent,
        }
