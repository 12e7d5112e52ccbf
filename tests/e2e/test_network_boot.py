"""Real virtual machines boot from bootsvc over the network: a BIOS machine
(SeaBIOS, QEMU's iPXE ROM: DHCP, then HTTP) and a UEFI machine (OVMF's own
PXE: DHCP and TFTP of snponly.efi, then iPXE, then HTTP) at once, each its
own node in the CMDB with its own version. Each fetches its squashfs root,
switch_roots into it with the overlay files, and reports up.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootsvc.lab import server
from bootsvc.lab.console import Boot, printable
from bootsvc.lab.lab import Lab, Vm
from bootsvc.lab.qemu import Firmware

pytestmark = pytest.mark.e2e

BOOT_TIMEOUT_SECONDS = 150.0
_LOGFMT = re.compile(r'(\w[\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


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


def _log(path: Path) -> list[dict[str, str]]:
    return [
        {key: value.strip('"') for key, value in _LOGFMT.findall(line)}
        for line in path.read_text().splitlines()
    ]


def _console_tail(vm: Vm) -> str:
    vm.console.poll()
    return "\n".join(printable(vm.console.text).splitlines()[-40:])


def _wait(vm: Vm, boots: int, deadline: float) -> Boot:
    seen = vm.wait_up(max(0.0, deadline - time.monotonic()), boots=boots)
    assert len(seen) >= boots, f"{vm.name} did not come up; console:\n{_console_tail(vm)}"
    return seen[boots - 1]


def _check_console(machine: Machine, boot: Boot, version: str, overlay: dict[str, str]) -> None:
    assert boot.fields["image"] == "busybox-test"
    assert boot.fields["version"] == version
    assert boot.fields["mac"] == machine.mac
    assert boot.fields["firmware"] == machine.firmware.value
    assert boot.fields["report"] == "ok"
    # The overlay files arrived as an extra initrd and survived switch_root.
    assert boot.files == overlay


def _check_reports(
    lab: Lab, token: str, machine: Machine, version: str, overlay: dict[str, str]
) -> None:
    reports = server.api(lab.network, f"/reports?node={machine.name}", token)
    stages = {r["stage"] for r in reports if r["version"] == version and r["mac"] == machine.mac}
    assert {"script", "kernel-loaded", "up"} <= stages, reports
    up = next(r for r in reports if r["stage"] == "up")
    assert up["version"] == version
    assert up["details"]["firmware"] == machine.firmware.value
    assert up["details"]["overlay_files"] == len(overlay)


def _check_http_log(lab: Lab, machine: Machine, version: str) -> None:
    mine = [line for line in _log(lab.log_path("bootsvc")) if line.get("mac") == machine.mac]
    events = {(line["event"], line.get("file") or line.get("stage")) for line in mine}
    assert ("boot.script", "script") in events
    for name in ("vmlinuz", "initrd.img", f"overlay-probe-{version}.cpio"):
        assert ("http.artifact", name) in events, name
    assert ("boot.report", "up") in events
    # Every HTTP and TFTP line names the machine's address too (DHCP lines do
    # once there is one: a ProxyDHCP never learns it from a DISCOVER).
    assert all(line.get("ip") for line in mine if line.get("svc") != "dhcp")


def _check_dhcp_tftp(lab: Lab, machine: Machine) -> None:
    """bootsvc's own DHCP and TFTP steps, in its log under the machine's MAC:
    the DHCP exchange of every machine, and the TFTP transfer of UEFI machines
    (the BIOS ROM is iPXE already and goes straight to HTTP)."""
    mine = [line for line in _log(lab.log_path("bootsvc")) if line.get("mac") == machine.mac]
    services = {line.get("svc", "").split(".")[0] for line in mine}
    assert "dhcp" in services, mine
    offers = [line for line in mine if line.get("reply") in {"offer", "ack"}]
    assert offers and all(line.get("ip") for line in offers), offers
    if machine.firmware is Firmware.UEFI:
        assert ("tftp.sent", lab.settings.uefi_loader) in {
            (line["event"], line.get("file")) for line in mine
        }, mine


def test_bios_and_uefi_machines_boot_their_versions_at_once(
    lab: Lab, probe_files: dict[str, dict[str, str]]
) -> None:
    lab.cli("image", "promote", "busybox-test", "1", "--channel", "stable")
    for machine in MACHINES:
        lab.cli("node", "add", machine.name, "--mac", machine.mac, "--image", machine.assignment)
    token = lab.token("e2e")

    started = time.monotonic()
    deadline = started + BOOT_TIMEOUT_SECONDS
    vms = {m.name: lab.boot(m.name, m.firmware, m.mac) for m in MACHINES}
    boots = {m.name: _wait(vms[m.name], 1, deadline) for m in MACHINES}
    print(f"both machines up {time.monotonic() - started:.1f} s after power-on")

    for machine in MACHINES:
        boot = boots[machine.name]
        overlay = probe_files[machine.version]
        _check_console(machine, boot, machine.version, overlay)
        _check_reports(lab, token, machine, machine.version, overlay)
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
    _check_console(bios, again, "2", probe_files["2"])
    _check_reports(lab, token, bios, "2", probe_files["2"])
