"""ARM64 with real firmware: qemu-system-aarch64's virt machine with AAVMF
(Debian's qemu-efi-aarch64), under TCG. bootsvc names Debian's signed arm64
shim for client architecture 11; shim loads the signed arm64 network GRUB
over TFTP, which says its CPU when it fetches the node's grub.cfg. The arm64
busybox-test boots to its report; an x86-64 version is refused to the same
kind of machine with the reason, on its console and in its boot report."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootsvc.core.boot import secureboot
from bootsvc.lab.lab import Lab
from bootsvc.lab.qemu import Firmware
from bootsvc.settings import LabDhcpTftp
from tests.e2e.conftest import lab_up, server_log
from tests.e2e.test_network_boot import _wait
from tests.e2e.test_secure_boot import _sent_by_tftp, _wait_for_text
from tests.support import arm64loaders

pytestmark = pytest.mark.e2e

# Failure detectors, far above a boot: TCG emulates every arm64 instruction.
BOOT_TIMEOUT_SECONDS = 900.0
REFUSAL_TIMEOUT_SECONDS = 600.0
ARM64_IMAGE = "busybox-test-arm64"
MEMORY_MB = 1024


@pytest.fixture(scope="module")
def arm64_lab(
    tmp_path_factory: pytest.TempPathFactory, busybox_test_arm64: Path, busybox_test_v1: Path
) -> Iterator[Lab]:
    """bootsvc as the only DHCP, TFTP and HTTP server, serving the arm64
    shim and GRUB unpacked from Debian's arm64 packages, with
    busybox-test-arm64 1 and the x86-64 busybox-test 1."""
    loaders = arm64loaders.lab_settings()
    yield from lab_up(
        tmp_path_factory,
        (busybox_test_arm64, busybox_test_v1),
        LabDhcpTftp.BOOTSVC,
        "a",
        arm64_shim_dir=loaders["arm64_shim_dir"],
        arm64_grub_dir=loaders["arm64_grub_dir"],
    )


def _register(lab: Lab, directory: Path, hostname: str, mac: str, image: str) -> None:
    record = {"hostname": hostname, "image": image, "interfaces": [{"name": "eth0", "mac": mac}]}
    (directory / "nodes.yaml").write_text(yaml.safe_dump([record]))
    lab.cli("node", "import", str(directory / "nodes.yaml"))


def test_aavmf_boots_the_arm64_image_through_shim_and_grub(arm64_lab: Lab, tmp_path: Path) -> None:
    lab, mac = arm64_lab, "52:54:00:e2:a6:01"
    _register(lab, tmp_path, "arm-1", mac, f"{ARM64_IMAGE}=1")
    started = time.monotonic()
    vm = lab.boot("arm-1", Firmware.UEFI_ARM64, mac, memory_mb=MEMORY_MB)
    boot = _wait(vm, 1, started + BOOT_TIMEOUT_SECONDS)
    print(f"up {time.monotonic() - started:.1f} s after power-on, through shim and GRUB")
    lab.stop_vm("arm-1")

    assert boot.fields["image"] == ARM64_IMAGE and boot.fields["version"] == "1"
    assert boot.fields["mac"] == mac and boot.fields["firmware"] == "uefi"
    assert boot.fields["report"] == "ok"
    assert boot.files["/etc/hostname"] == "arm-1\n"
    assert "cluster_name: probe-v1" in boot.files["/etc/corosync/corosync.conf"]

    sent = _sent_by_tftp(lab, mac)
    assert sent[:2] == [secureboot.SHIM_ARM64, secureboot.GRUB_ARM64], sent
    assert secureboot.GRUB_NODE_CONFIG.format(mac=mac) + "?arch=arm64" in sent, sent
    assert any(name.endswith("/vmlinuz") for name in sent), sent
    (up,) = [
        line
        for line in server_log(lab)
        if line.get("event") == "boot.report"
        and line.get("mac") == mac
        and line.get("stage") == "up"
    ]
    assert up["image"] == ARM64_IMAGE
    reports = json.loads(lab.cli("reports", "--node", "arm-1", "--json"))
    kernels = {r["details"].get("kernel") for r in reports if r["stage"] == "up"}
    assert len(kernels) == 1 and kernels.pop().endswith("-arm64"), reports


def test_an_x86_version_is_refused_to_the_arm64_machine(arm64_lab: Lab, tmp_path: Path) -> None:
    lab, mac = arm64_lab, "52:54:00:e2:a6:02"
    _register(lab, tmp_path, "arm-2", mac, "busybox-test=1")
    reason = "busybox-test 1 is built for x86_64, and this machine is arm64"
    started = time.monotonic()
    vm = lab.boot("arm-2", Firmware.UEFI_ARM64, mac, memory_mb=MEMORY_MB)
    try:
        _wait_for_text(vm, reason, started + REFUSAL_TIMEOUT_SECONDS)
    finally:
        lab.stop_vm("arm-2")
    print(f"refusal on the console {time.monotonic() - started:.1f} s after power-on")
    sent = _sent_by_tftp(lab, mac)
    assert not any(name.startswith("artifacts/") for name in sent), sent
    status = json.loads(lab.cli("node", "show", "arm-2", "--json"))["boot"]
    assert status["status"] == "refused" and status["refused"] == reason, status
