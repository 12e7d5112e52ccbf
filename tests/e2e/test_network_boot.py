"""Real virtual machines boot from bootsvc over the network: a BIOS machine
(SeaBIOS, QEMU's iPXE ROM: DHCP, then HTTP) and a UEFI machine (OVMF's own
PXE: DHCP and TFTP of snponly.efi, then iPXE, then HTTP) at once, each its
own node in the CMDB with its own version, both members of one two-node
cluster. Each fetches its squashfs root, switch_roots into it with its own
files from bootsvc's overlay (/etc/hostname, /etc/hosts, corosync.conf,
checked against the CMDB) and its secrets, and reports up.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bootsvc.lab import server
from bootsvc.lab.console import Boot, printable
from bootsvc.lab.lab import Lab, Vm
from bootsvc.lab.qemu import Firmware
from tests.e2e.conftest import server_log

pytestmark = pytest.mark.e2e

BOOT_TIMEOUT_SECONDS = 150.0


@dataclass(frozen=True)
class Machine:
    name: str
    firmware: Firmware
    mac: str
    assignment: str
    version: str


MACHINES = (
    Machine("e2e-bios", Firmware.BIOS, "52:54:00:e2:e0:01", "busybox-test@stable", "1"),
    Machine("e2e-uefi", Firmware.UEFI, "52:54:00:e2:e0:02", "busybox-test=2", "2"),
)


def _console_tail(vm: Vm) -> str:
    vm.console.poll()
    return "\n".join(printable(vm.console.text).splitlines()[-40:])


def _wait(vm: Vm, boots: int, deadline: float) -> Boot:
    seen = vm.wait_up(max(0.0, deadline - time.monotonic()), boots=boots)
    assert len(seen) >= boots, f"{vm.name} did not come up; console:\n{_console_tail(vm)}"
    return seen[boots - 1]


def power_on_together(lab: Lab) -> tuple[dict[str, Vm], dict[str, Boot]]:
    """Every machine powered on at once, and its first boot, each within
    BOOT_TIMEOUT_SECONDS of power-on."""
    started = time.monotonic()
    deadline = started + BOOT_TIMEOUT_SECONDS
    vms = {m.name: lab.boot(m.name, m.firmware, m.mac) for m in MACHINES}
    boots = {m.name: _wait(vms[m.name], 1, deadline) for m in MACHINES}
    print(f"both machines up {time.monotonic() - started:.1f} s after power-on")
    return vms, boots


PRINTED = ("/etc/hostname", "/etc/hosts", "/etc/corosync/corosync.conf")
RING = {"e2e-bios": "10.99.0.11", "e2e-uefi": "10.99.0.12"}


def _register(lab: Lab, tmp_path: Path) -> None:
    """A two-node cluster with its ring network, the way an integration
    would send it (the ring addresses are facts: the busybox image does not
    configure them, but corosync.conf lists them)."""
    lab.cli(
        "cluster",
        "add",
        "e2e",
        "--domain",
        "e2e.example",
        "--network",
        "ring=10.99.0.0/24",
        "--setting",
        "pacemaker={stonith_enabled: false}",
        "--setting",
        "network={links: {eth0: [ring]}}",
    )
    records = [
        {
            "hostname": m.name,
            "cluster": "e2e",
            "roles": ["hypervisor"],
            "image": m.assignment,
            "interfaces": [{"name": "eth0", "mac": m.mac}],
            "facts": {"addresses": {"ring": RING[m.name]}},
        }
        for m in MACHINES
    ]
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(yaml.safe_dump(records))
    lab.cli("node", "import", str(nodes))


def _expected(lab: Lab, token: str, machine: Machine) -> dict[str, str]:
    """What the CMDB says the machine gets, by path."""
    config = server.api(lab.network, f"/nodes/{machine.name}/config", token)
    files: dict[str, str] = {f["path"]: f.get("content") or "" for f in config["files"]}
    files.update(dict.fromkeys(config["secrets"], ""))
    return files


def _check_files(lab: Lab, machine: Machine, boot: Boot, expected: dict[str, str]) -> None:
    """The overlay files arrived as an extra initrd, survived switch_root, and
    are what the CMDB says: the node's name, every member, their nodeids."""
    assert boot.files == {path: expected[path] for path in PRINTED}
    assert boot.files["/etc/hostname"] == f"{machine.name}\n"
    for name, address in RING.items():
        assert f"{address}\t{name}.e2e.example {name}\n" in boot.files["/etc/hosts"]
        shown = json.loads(lab.cli("node", "show", name, "--json"))
        corosync = boot.files["/etc/corosync/corosync.conf"]
        assert (
            f"name: {name}\n        nodeid: {shown['corosync_nodeid']}\n"
            f"        ring0_addr: {address}\n"
        ) in corosync
    assert "two_node: 1" in boot.files["/etc/corosync/corosync.conf"]


def _check_console(machine: Machine, boot: Boot, version: str) -> None:
    assert boot.fields["image"] == "busybox-test"
    assert boot.fields["version"] == version
    assert boot.fields["mac"] == machine.mac
    assert boot.fields["firmware"] == machine.firmware.value
    assert boot.fields["report"] == "ok"


def _check_reports(lab: Lab, token: str, machine: Machine, version: str, copied: set[str]) -> None:
    reports = server.api(lab.network, f"/reports?node={machine.name}", token)
    stages = {r["stage"] for r in reports if r["version"] == version and r["mac"] == machine.mac}
    assert {"script", "kernel-loaded", "up"} <= stages, reports
    up = next(r for r in reports if r["stage"] == "up")
    assert up["version"] == version
    assert up["details"]["firmware"] == machine.firmware.value
    # The hook copied the probe's files, the overlay's and the secrets.
    assert up["details"]["overlay_files"] == len(copied)


def _check_http_log(lab: Lab, machine: Machine, version: str) -> None:
    mine = [line for line in server_log(lab) if line.get("mac") == machine.mac]
    events = {(line["event"], line.get("file") or line.get("stage")) for line in mine}
    assert ("boot.script", "script") in events
    for name in ("vmlinuz", "initrd.img", f"overlay-probe-{version}.cpio"):
        assert ("http.artifact", name) in events, name
    assert ("boot.overlay", "overlay") in events and ("boot.secrets", "secrets") in events
    assert ("boot.report", "up") in events
    # Every HTTP and TFTP line names the machine's address too (DHCP lines do
    # once there is one: a ProxyDHCP never learns it from a DISCOVER).
    assert all(line.get("ip") for line in mine if line.get("svc") != "dhcp")


def _check_dhcp_tftp(lab: Lab, machine: Machine) -> None:
    """bootsvc's own DHCP and TFTP steps, in its log under the machine's MAC:
    the DHCP exchange of every machine, and the TFTP transfer of UEFI machines
    (the BIOS ROM is iPXE already and goes straight to HTTP)."""
    mine = [line for line in server_log(lab) if line.get("mac") == machine.mac]
    services = {line.get("svc", "").split(".")[0] for line in mine}
    assert "dhcp" in services, mine
    offers = [line for line in mine if line.get("reply") in {"offer", "ack"}]
    assert offers and all(line.get("ip") for line in offers), offers
    if machine.firmware is Firmware.UEFI:
        assert ("tftp.sent", lab.settings.uefi_loader) in {
            (line["event"], line.get("file")) for line in mine
        }, mine


def test_bios_and_uefi_machines_boot_their_versions_at_once(
    lab: Lab, probe_files: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    lab.cli("image", "promote", "busybox-test", "1", "--channel", "stable")
    _register(lab, tmp_path)
    token = lab.token("e2e")
    expected = {m.name: _expected(lab, token, m) for m in MACHINES}

    vms, boots = power_on_together(lab)

    for machine in MACHINES:
        boot = boots[machine.name]
        copied = set(probe_files[machine.version]) | set(expected[machine.name])
        _check_console(machine, boot, machine.version)
        _check_files(lab, machine, boot, expected[machine.name])
        _check_reports(lab, token, machine, machine.version, copied)
        _check_http_log(lab, machine, machine.version)
        _check_dhcp_tftp(lab, machine)

    # A reset boots the machine again from the network, now on the version
    # its channel was moved to.
    bios = MACHINES[0]
    lab.cli("image", "promote", "busybox-test", "2", "--channel", "stable")
    restarted = time.monotonic()
    vms[bios.name].reset()
    again = _wait(vms[bios.name], 2, restarted + BOOT_TIMEOUT_SECONDS)
    print(f"{bios.name} up again on version 2 {time.monotonic() - restarted:.1f} s after reset")
    _check_console(bios, again, "2")
    _check_files(lab, bios, again, expected[bios.name])
    _check_reports(lab, token, bios, "2", set(probe_files["2"]) | set(expected[bios.name]))
