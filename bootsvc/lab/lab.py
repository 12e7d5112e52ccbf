"""A lab: its network, its bootsvc (answering DHCP and TFTP itself, or
beside dnsmasq, or DHCPv6 and TFTP on an IPv6-only network beside radvd:
setting lab_dhcp_tftp), and its virtual machines, with the state that lets
`bootsvc lab down` remove all of it, also after a crash.

A lab lives in DIR = lab_dir/NAME: state.json, bootsvc.toml (the settings of
its bootsvc, usable with `bootsvc --config`), data/ (its database and
artifacts), logs/, and vms/<vm>/ (console log, monitor socket).
"""

from __future__ import annotations

import ipaddress
import logging
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from bootsvc.core.catalog import imports
from bootsvc.core.cmdb import names
from bootsvc.lab import dnsmasq, processes, qemu, radvd, server
from bootsvc.lab.console import Boot, Follower, wait_for_boots
from bootsvc.lab.network import BRIDGE, LabNetwork, namespaces, netns_name, tap_name, vm_mac
from bootsvc.lab.system import LabError, require, require_root, run
from bootsvc.logs import event
from bootsvc.net.iface import interface_ipv4, interface_ipv6
from bootsvc.settings import LabDhcpTftp, Settings

log = logging.getLogger("bootsvc.lab")

STATE = "state.json"
TPM_START_SECONDS = 10.0


class VmState(BaseModel):
    name: str
    firmware: qemu.Firmware
    mac: str
    tap: str
    pid: int
    # Its swtpm, for a VM with a TPM.
    tpm_pid: int | None = None


class LabState(BaseModel):
    name: str
    netns: str | None
    interface: str
    server: str
    dhcp_tftp: LabDhcpTftp
    pids: dict[str, int] = {}
    vms: dict[str, VmState] = {}


def lab_dir(settings: Settings, name: str) -> Path:
    return settings.effective_lab_dir / names.object_name(name, "lab name")


class Vm:
    """A running lab VM."""

    def __init__(self, state: VmState, files: qemu.VmFiles) -> None:
        self.state = state
        self.files = files
        self.console = Follower(files.console)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def mac(self) -> str:
        return self.state.mac

    def running(self) -> bool:
        return processes.alive(self.state.pid)

    def wait_up(
        self, timeout: float, boots: int = 1, echo: Callable[[str], None] | None = None
    ) -> list[Boot]:
        """Follow the console until the VM has come up `boots` times (counting
        every boot since it started) or `timeout` seconds passed."""
        return wait_for_boots(self.console, boots, timeout, echo, self.running)

    def reset(self) -> None:
        qemu.monitor(self.files, "system_reset")


class Lab:
    def __init__(self, settings: Settings, state: LabState) -> None:
        self.settings = settings
        self.state = state
        self.dir = lab_dir(settings, state.name)
        self.network = LabNetwork(
            state.netns, state.interface, ipaddress.ip_interface(state.server)
        )
        # Processes this object started, kept so that they are reaped when they end.
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def config_file(self) -> Path:
        return self.dir / "bootsvc.toml"

    @property
    def base_url(self) -> str:
        return server.base_url(self.network)

    def log_path(self, service: str) -> Path:
        return self.dir / "logs" / f"{service}.log"

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        partial = self.dir / f"{STATE}.partial"
        partial.write_text(self.state.model_dump_json(indent=2))
        partial.replace(self.dir / STATE)

    @classmethod
    def load(cls, settings: Settings, name: str) -> Lab:
        path = lab_dir(settings, name) / STATE
        try:
            state = LabState.model_validate_json(path.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab {name!r} is up (no {path}): run `bootsvc lab up`") from None
        except ValidationError:
            raise LabError(f"{path} is unreadable; `bootsvc lab down` still cleans up") from None
        return cls(settings, state)

    @classmethod
    def up(
        cls, settings: Settings, name: str, interface: str | None = None, fresh: bool = False
    ) -> Lab:
        """Create the network, start bootsvc (and dnsmasq) and wait until
        bootsvc answers. On failure, whatever was started is removed again."""
        require("ip", "curl")
        directory = lab_dir(settings, name)
        if (directory / STATE).exists():
            raise LabError(f"lab {name!r} is already up: run `bootsvc lab down --lab {name}`")
        if fresh:
            shutil.rmtree(directory, ignore_errors=True)
        mode = settings.lab_dhcp_tftp
        if mode.with_dnsmasq:
            require("dnsmasq")
        if mode.ipv6_only:
            require("radvd")
        subnet = settings.lab_subnet6 if mode.ipv6_only else settings.lab_subnet
        if interface is None:
            require_root()
            address = ipaddress.ip_interface(f"{next(subnet.hosts())}/{subnet.prefixlen}")
            netns: str | None = netns_name(name)
        else:
            ip = interface_ipv6(interface) if mode.ipv6_only else interface_ipv4(interface)
            if ip is None:
                raise LabError(f"interface {interface} has no IPv{subnet.version} address")
            address = ipaddress.ip_interface(f"{ip}/{subnet.prefixlen}")
            netns = None
        state = LabState(
            name=name,
            netns=netns,
            interface=interface or BRIDGE,
            server=str(address),
            dhcp_tftp=settings.lab_dhcp_tftp,
        )
        lab = cls(settings, state)
        lab.save()
        try:
            lab._start()
        except BaseException:
            lab.down()
            raise
        return lab

    def _start(self) -> None:
        self.network.create()
        values = server.settings_values(
            self.dir, self.network, self.settings, self.settings.lab_server_settings
        )
        server.write_settings(self.config_file, values)
        bootsvc_log = self.log_path("bootsvc")
        serve = server.start(self.config_file, self.network, bootsvc_log)
        self._track("bootsvc", serve)
        if self.state.dhcp_tftp.ipv6_only:
            self._start_radvd()
        if self.state.dhcp_tftp.with_dnsmasq:
            boot_files = self.state.dhcp_tftp is LabDhcpTftp.DNSMASQ
            if boot_files:
                dnsmasq.check_loaders(self.settings.loader_dir, self.settings.uefi_loader)
            config_file = self.dir / "dnsmasq.conf"
            self.dhcp_hosts_dir.mkdir(exist_ok=True)
            config_file.write_text(
                dnsmasq.config(
                    self.name,
                    self.network,
                    self.base_url,
                    self.settings.loader_dir,
                    self.settings.uefi_loader,
                    self.dir / "dnsmasq.leases",
                    self.dhcp_hosts_dir,
                    self.settings.template_dir,
                    boot_files=boot_files,
                )
            )
            self._track(
                "dnsmasq",
                processes.start(
                    dnsmasq.argv(config_file), self.network.netns, self.log_path("dnsmasq")
                ),
            )
        server.wait_ready(self.network, serve, bootsvc_log)
        event(log, "lab.up", lab=self.name, base_url=self.base_url, netns=self.network.netns)

    def _start_radvd(self) -> None:
        """Router advertisements with the M flag: firmware and iPXE then ask
        bootsvc's DHCPv6 for their address and boot file."""
        config_file = self.dir / "radvd.conf"
        config_file.write_text(radvd.config(self.name, self.network, self.settings.template_dir))
        argv = radvd.argv(config_file, self.dir / "radvd.pid")
        self._track("radvd", processes.start(argv, self.network.netns, self.log_path("radvd")))

    def _track(self, service: str, process: subprocess.Popen[bytes]) -> None:
        self.children[service] = process
        self.state.pids[service] = process.pid
        self.save()

    @property
    def dhcp_hosts_dir(self) -> Path:
        return self.dir / "dhcp-hosts"

    def reserve(self, mac: str, ip: str) -> None:
        """Have the lab's dnsmasq (the site's DHCP server) always give `mac`
        the address `ip`; it reads the directory as it changes."""
        path = self.dhcp_hosts_dir / mac.replace(":", "-")
        path.write_text(f"{mac},{ip}\n")

    def cli(self, *args: str, echo: Callable[[str], None] | None = None) -> str:
        """Run a bootsvc command against this lab's bootsvc; `echo` is shown
        the command line and its output, as a newcomer would type and see them."""
        if echo is not None:
            echo(f"$ bootsvc --config {self.config_file} {shlex.join(args)}")
        output = server.cli(self.config_file, *args)
        if echo is not None:
            echo(output.rstrip("\n"))
        return output

    def fetch(self, path: str, echo: Callable[[str], None] | None = None) -> str:
        """GET a path of this lab's bootsvc from inside the lab network, the
        way a node there would; `echo` is shown the curl command and reply."""
        url = f"{self.base_url}{path}"
        if echo is not None:
            echo(f"$ curl -gs '{url}'")
        output = run(["curl", "-gsf", url], self.network.netns)
        if echo is not None:
            echo(output.rstrip("\n"))
        return output

    def import_image(
        self, manifest: Path, channel: str | None = None, echo: Callable[[str], None] | None = None
    ) -> tuple[str, str]:
        """Import a built image unless this version is in the catalog already,
        and point `channel` at it. Returns (image, version)."""
        files = imports.read_manifest(manifest)
        try:
            self.cli("image", "show", files.image, files.version)
        except LabError:
            self.cli("image", "import", str(manifest), echo=echo)
        if channel:
            self.cli(
                "image", "promote", files.image, files.version, "--channel", channel, echo=echo
            )
        return files.image, files.version

    def token(self, name: str, role: str = "reader") -> str:
        return self.cli("token", "create", name, "--role", role).strip()

    def boot(
        self,
        name: str,
        firmware: qemu.Firmware,
        mac: str | None = None,
        memory_mb: int = 512,
        disks_gib: tuple[int, ...] = (),
        tpm: bool = False,
        cpus: int = 1,
    ) -> Vm:
        """Start a VM on the lab network; it boots from the network at once."""
        require(firmware.emulator)
        names.object_name(name, "VM name")
        if name in self.state.vms:
            raise LabError(f"lab {self.name} already has a VM {name!r}")
        spec = qemu.VmSpec(
            name,
            firmware,
            names.mac(mac or vm_mac(name)),
            tap_name(name),
            memory_mb,
            cpus,
            disks_gib,
            tpm,
            ipv4_pxe=not self.state.dhcp_tftp.ipv6_only,
        )
        files = self.vm_files(name)
        qemu.prepare(spec, files)
        tpm_process = self._start_tpm(name, files) if tpm else None
        self.network.add_tap(spec.tap)
        try:
            process = processes.start(qemu.argv(spec, files), self.network.netns, files.log)
        except LabError:
            self.network.remove_tap(spec.tap)
            if tpm_process is not None:
                processes.stop([tpm_process.pid])
            raise
        state = VmState(
            name=name,
            firmware=firmware,
            mac=spec.mac,
            tap=spec.tap,
            pid=process.pid,
            tpm_pid=tpm_process.pid if tpm_process else None,
        )
        self.children[f"vm {name}"] = process
        self.state.vms[name] = state
        self.save()
        event(log, "lab.vm.started", lab=self.name, vm=name, mac=spec.mac, firmware=firmware)
        return Vm(state, files)

    def vm_files(self, name: str) -> qemu.VmFiles:
        """Where VM `name` keeps its disks, console and TPM state, before and
        after it runs: a test may give it a TPM whose key is known beforehand."""
        return qemu.VmFiles(self.dir / "vms" / name)

    def _start_tpm(self, name: str, files: qemu.VmFiles) -> subprocess.Popen[bytes]:
        """The VM's swtpm, listening once its socket is there."""
        process = processes.start(qemu.swtpm_argv(files), None, files.tpm_log)
        self.children[f"tpm {name}"] = process
        deadline = time.monotonic() + TPM_START_SECONDS
        while not files.tpm_socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                processes.stop([process.pid])
                raise LabError(f"swtpm of VM {name} did not start; see {files.tpm_log}")
            time.sleep(0.02)
        return process

    def vm(self, name: str) -> Vm:
        try:
            state = self.state.vms[name]
        except KeyError:
            raise LabError(f"lab {self.name} has no VM {name!r}") from None
        return Vm(state, self.vm_files(name))

    def stop_vm(self, name: str) -> None:
        vm = self.vm(name)
        pids = [vm.state.pid] + ([vm.state.tpm_pid] if vm.state.tpm_pid else [])
        processes.stop(self._owned(pids))
        self.children.pop(f"vm {name}", None)
        self.children.pop(f"tpm {name}", None)
        self.network.remove_tap(vm.state.tap)
        del self.state.vms[name]
        self.save()

    def _owned(self, pids: list[int]) -> list[int]:
        """Of `pids`, those that are still this lab's processes."""
        in_netns = processes.netns_pids(self.network.netns) if self.network.netns else set()
        return [pid for pid in pids if pid in in_netns or processes.names_dir(pid, self.dir)]

    def down(self) -> None:
        """Stop every process of the lab and delete its network. The lab's
        directory (logs, database) stays for a look afterwards."""
        recorded = [*self.state.pids.values(), *(vm.pid for vm in self.state.vms.values())]
        recorded += [vm.tpm_pid for vm in self.state.vms.values() if vm.tpm_pid]
        pids = set(self._owned(recorded))
        if self.network.netns:
            pids |= processes.netns_pids(self.network.netns)
        processes.stop(pids)
        for process in self.children.values():
            process.poll()
        self.network.destroy()
        (self.dir / STATE).unlink(missing_ok=True)
        event(log, "lab.down", lab=self.name)


def down(settings: Settings, name: str) -> bool:
    """Remove lab `name`, also when its state file is gone or unreadable but
    its namespace is left. False when there was nothing to remove."""
    try:
        lab = Lab.load(settings, name)
    except LabError:
        netns = netns_name(name)
        if not processes.netns_pids(netns) and netns not in namespaces():
            return False
        state = LabState(
            name=name,
            netns=netns,
            interface=BRIDGE,
            server=str(ipaddress.IPv4Interface(f"{settings.lab_subnet.network_address}/32")),
            dhcp_tftp=settings.lab_dhcp_tftp,
        )
        lab = Lab(settings, state)
    lab.down()
    return True
