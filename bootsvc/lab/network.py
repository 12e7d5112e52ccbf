"""The lab network: a namespace holding a bridge with the boot server's
address, and one tap device per virtual machine on that bridge.

Inside its own namespace the lab may use any addresses and the well-known
ports (DHCP 67, TFTP 69) without touching the host's network. Without a
namespace (`interface` given, as on the vagrant boot server) the lab uses an
existing interface and creates nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass

from bootsvc.lab.system import LabError, run
from bootsvc.logs import event

log = logging.getLogger("bootsvc.lab")

BRIDGE = "br0"
# A fixed bridge address: a bridge otherwise takes the lowest MAC of its
# ports, which changes as VMs come and go and leaves stale ARP entries.
BRIDGE_MAC = "02:b0:07:5e:00:01"
NETNS_PREFIX = "bootsvc-lab-"


def netns_name(lab: str) -> str:
    return NETNS_PREFIX + lab


def tap_name(vm: str) -> str:
    """A tap name from a VM name, within the 15 characters Linux allows."""
    name = f"tap-{vm}"
    if len(name) <= 15:
        return name
    return "tap-" + hashlib.sha256(vm.encode()).hexdigest()[:11]


def vm_mac(vm: str) -> str:
    """A stable, locally administered MAC for a VM name (QEMU's 52:54:00 prefix)."""
    digest = hashlib.sha256(vm.encode()).digest()
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def namespaces() -> set[str]:
    return {line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line.strip()}


# An IPv6 lab's DHCPv6 range: offsets in its prefix, clear of the server
# (::1) and of the low addresses a test gives its nodes in the CMDB.
RANGE6 = (0x1000, 0x1FFF)


@dataclass(frozen=True)
class LabNetwork:
    netns: str | None
    interface: str
    # The server's address: IPv4, or IPv6 for an IPv6-only lab.
    server: ipaddress.IPv4Interface | ipaddress.IPv6Interface

    @property
    def server_ip(self) -> str:
        return str(self.server.ip)

    @property
    def url_host(self) -> str:
        """The server's address as a URL names it."""
        return f"[{self.server.ip}]" if self.server.version == 6 else self.server_ip

    def pool(self) -> tuple[str, str]:
        """The DHCP pool: the upper half of the subnet, clear of the server;
        over IPv6, the DHCPv6 range."""
        if self.server.version == 6:
            base = self.server.network.network_address
            return str(base + RANGE6[0]), str(base + RANGE6[1])
        hosts = list(self.server.network.hosts())
        upper = [host for host in hosts[len(hosts) // 2 :] if host != self.server.ip]
        return str(upper[0]), str(upper[-1])

    def _address_argv(self) -> list[str]:
        """The server's address on the bridge. IPv6 without duplicate address
        detection: the bridge has no carrier until a VM's tap joins, and a
        tentative address is one bootsvc cannot bind or name in URLs."""
        argv = ["ip", "addr", "add", str(self.server), "dev", self.interface]
        return [*argv, "nodad"] if self.server.version == 6 else argv

    def create(self) -> None:
        if self.netns is None:
            return
        if self.netns in namespaces():
            raise LabError(f"network namespace {self.netns} exists: run `bootsvc lab down` first")
        run(["ip", "netns", "add", self.netns])
        try:
            for argv in (
                ["ip", "link", "set", "lo", "up"],
                ["ip", "link", "add", self.interface, "address", BRIDGE_MAC, "type", "bridge"],
                self._address_argv(),
                ["ip", "link", "set", self.interface, "up"],
            ):
                run(argv, self.netns)
        except LabError:
            self.destroy()
            raise
        event(log, "lab.netns.created", netns=self.netns, bridge=self.interface, ip=self.server)

    def add_tap(self, tap: str) -> None:
        if self.netns is None:
            raise LabError("virtual machines need a lab namespace (the lab runs on an interface)")
        run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], self.netns)
        run(["ip", "link", "set", tap, "master", self.interface, "up"], self.netns)

    def remove_tap(self, tap: str) -> None:
        if self.netns is not None and self.netns in namespaces():
            run(["ip", "link", "del", tap], self.netns)

    def destroy(self) -> None:
        """Delete the namespace and with it the bridge and the taps."""
        if self.netns is not None and self.netns in namespaces():
            run(["ip", "netns", "del", self.netns])
            event(log, "lab.netns.deleted", netns=self.netns)
