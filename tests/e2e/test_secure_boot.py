"""Secure Boot with real firmware: Debian's OVMF with Secure Boot enforced and
Microsoft's keys enrolled. bootsvc names the Microsoft-signed shim in its DHCP
reply; shim loads Debian's signed network GRUB over TFTP, which reads the
node's grub.cfg and fetches the Debian-signed kernel, the initrds and the
overlay over TFTP. A version whose kernel is not signed never reaches such a
node: its GRUB prints why and the kernel is not sent."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import pytest
import yaml

from bootsvc.core.boot import secureboot
from bootsvc.lab.console import printable
from bootsvc.lab.lab import Lab, Vm
from bootsvc.lab.qemu import Firmware
from bootsvc.settings import LabDhcpTftp
from tests.e2e.conftest import lab_up, server_log
from tests.e2e.test_network_boot import _wait

pytestmark = pytest.mark.e2e

# Failure detectors, far above a boot on a machine shared with other jobs.
BOOT_TIMEOUT_SECONDS = 360.0
REFUSAL_TIMEOUT_SECONDS = 300.0
UNSIGNED = "3"


def _unsigned_copy(manifest: Path, directory: Path) -> Path:
    """A version of busybox-test whose kernel lost its signature (sbattach
    --remove on a copy), otherwise the same as `manifest`."""
    data = yaml.safe_load(manifest.read_text())
    data.pop("build", None)
    kernel = directory / "vmlinuz-unsigned"
    shutil.copyfile(manifest.parent / data["kernel"]["path"], kernel)
    subprocess.run(["sbattach", "--remove", str(kernel)], check=True, capture_output=True)
    data["version"] = UNSIGNED
    data["kernel"] = {"path": str(kernel), "sha256": sha256(kernel.read_bytes()).hexdigest()}
    data["rootfs"]["path"] = str(manifest.parent / data["rootfs"]["path"])
    for entry in data["initrds"]:
        entry["path"] = str(manifest.parent / entry["path"])
    out = directory / "manifest-unsigned.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


@pytest.fixture(scope="module")
def secure_boot_lab(
    tmp_path_factory: pytest.TempPathFactory, busybox_test_v1: Path
) -> Iterator[Lab]:
    """bootsvc as the only DHCP, TFTP and HTTP server, with busybox-test 1
    (Debian's signed kernel) and 3 (the same kernel, signature removed)."""
    for tool in ("sbattach", "sbverify"):
        assert shutil.which(tool), f"{tool} is missing: apt-get install sbsigntool"
    unsigned = _unsigned_copy(busybox_test_v1, tmp_path_factory.mktemp("unsigned"))
    yield from lab_up(tmp_path_factory, (busybox_test_v1, unsigned), LabDhcpTftp.BOOTSVC, "s")


def _register(lab: Lab, directory: Path, hostname: str, mac: str, version: str) -> None:
    record = {
        "hostname": hostname,
        "image": f"busybox-test={version}",
        "interfaces": [{"name": "eth0", "mac": mac}],
        "facts": {"secure_boot": True},
    }
    (directory / "nodes.yaml").write_text(yaml.safe_dump([record]))
    lab.cli("node", "import", str(directory / "nodes.yaml"))


def _sent_by_tftp(lab: Lab, mac: str) -> list[str]:
    return [
        line.get("file", "").lstrip("/")
        for line in server_log(lab)
        if line.get("event") == "tftp.sent" and line.get("mac") == mac
    ]


def _wait_for_text(vm: Vm, text: str, deadline: float) -> str:
    """The console so far, its lines joined (GRUB wraps them at 80 columns),
    once `text` is on it."""
    while time.monotonic() < deadline:
        vm.console.poll()
        console = " ".join(printable(vm.console.text).split())
        if text in console:
            return console
        time.sleep(2)
    vm.console.poll()
    raise AssertionError(f"{text!r} not on the console:\n{printable(vm.console.text)[-3000:]}")


def test_enforcing_firmware_boots_the_signed_chain(secure_boot_lab: Lab, tmp_path: Path) -> None:
    lab, mac = secure_boot_lab, "52:54:00:e2:5b:01"
    _register(lab, tmp_path, "sb-signed", mac, "1")
    started = time.monotonic()
    vm = lab.boot("sb-signed", Firmware.UEFI_SECURE_BOOT, mac)
    boot = _wait(vm, 1, started + BOOT_TIMEOUT_SECONDS)
    print(f"up {time.monotonic() - started:.1f} s after power-on, through shim and GRUB")
    lab.stop_vm("sb-signed")

    assert boot.fields["version"] == "1" and boot.fields["mac"] == mac
    assert boot.fields["firmware"] == "uefi" and boot.fields["report"] == "ok"
    # The kernel saw the firmware's SecureBoot variable set.
    assert boot.fields["secure_boot"] == "true"
    assert boot.files["/etc/hostname"] == "sb-signed\n"
    assert "cluster_name: probe-v1" in boot.files["/etc/corosync/corosync.conf"]

    sent = _sent_by_tftp(lab, mac)
    assert sent[:2] == [secureboot.SHIM, secureboot.GRUB], sent
    assert secureboot.GRUB_CONFIG in sent
    assert secureboot.GRUB_NODE_CONFIG.format(mac=mac) + "?arch=x86_64" in sent
    assert any(name.endswith("/vmlinuz") for name in sent), sent
    assert any(name.startswith("boot/nodes/sb-signed/") for name in sent), sent
    reports = [line for line in server_log(lab) if line.get("event") == "boot.report"]
    stages = {line.get("stage") for line in reports if line.get("mac") == mac}
    assert {"kernel-loaded", "up"} <= stages, reports


def test_enforcing_firmware_is_never_handed_an_unsigned_kernel(
    secure_boot_lab: Lab, tmp_path: Path
) -> None:
    lab, mac = secure_boot_lab, "52:54:00:e2:5b:02"
    shown = lab.cli("image", "show", "busybox-test", UNSIGNED)
    assert "not signed" in shown, shown
    _register(lab, tmp_path, "sb-unsigned", mac, UNSIGNED)
    reason = f"busybox-test {UNSIGNED}: its kernel is not signed"
    started = time.monotonic()
    vm = lab.boot("sb-unsigned", Firmware.UEFI_SECURE_BOOT, mac)
    try:
        console = _wait_for_text(vm, reason, started + REFUSAL_TIMEOUT_SECONDS)
    finally:
        lab.stop_vm("sb-unsigned")
    print(f"refusal on the console {time.monotonic() - started:.1f} s after power-on")
    assert "a Secure Boot node boots only a signed kernel" in console
    sent = _sent_by_tftp(lab, mac)
    assert secureboot.GRUB_NODE_CONFIG.format(mac=mac) + "?arch=x86_64" in sent, sent
    assert not any(name.startswith("artifacts/") for name in sent), sent
    (noboot,) = {
        line["reason"]
        for line in server_log(lab)
        if line.get("event") == "boot.noboot" and line.get("mac") == mac
    }
    assert reason in noboot
    # bootsvc told the node's status why, too.
    shown = lab.cli("node", "show", "sb-unsigned")
    assert re.search(r"^status: +refused$", shown, re.M), shown
    assert re.search(rf"^refused: +{re.escape(noboot)}$", shown, re.M), shown
