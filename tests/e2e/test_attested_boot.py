"""Attested delivery with real TPMs: QEMU VMs with swtpm boot busybox-test
from bootsvc, whose initramfs runs images/common/bootsvc-attest.

VM A enrolls its TPM at its first boot and gets no secrets; once an admin
accepts the key, its next boot gets them, sealed to that TPM. VM B, with
another TPM, A's MAC and so (from bootsvc's DHCP) A's address, gets none,
and bootsvc's log says why. Each VM prints secrets=present|absent on its
console, from whether its SSH host key reached its root.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bootsvc.lab.console import Boot, printable
from bootsvc.lab.lab import Lab, Vm
from bootsvc.lab.qemu import Firmware
from bootsvc.settings import LabDhcpTftp
from tests.e2e.conftest import lab_up, server_events

pytestmark = pytest.mark.e2e

BOOT_TIMEOUT_SECONDS = 180.0
MAC = "52:54:00:e2:e7:01"
HOST = "tpm-a"


@pytest.fixture(scope="module")
def tpm_lab(tmp_path_factory: pytest.TempPathFactory, busybox_test_v1: Path) -> Iterator[Lab]:
    if shutil.which("swtpm") is None:
        pytest.fail("swtpm is missing: scripts/test.sh installs scripts/test-packages.txt")
    yield from lab_up(tmp_path_factory, (busybox_test_v1,), LabDhcpTftp.BOOTSVC, "t", probes=False)


def _boot(vm: Vm, boots: int) -> tuple[Boot, str]:
    """The VM's `boots`-th boot and its console so far."""
    seen = vm.wait_up(BOOT_TIMEOUT_SECONDS, boots=boots)
    vm.console.poll()
    console = printable(vm.console.text)
    assert len(seen) >= boots, f"{vm.name} did not come up:\n{console[-3000:]}"
    return seen[boots - 1], console


def test_only_the_accepted_tpm_gets_the_secrets(tpm_lab: Lab, tmp_path: Path) -> None:
    started = time.monotonic()
    record = {
        "hostname": HOST,
        "image": "busybox-test=1",
        "interfaces": [{"name": "eth0", "mac": MAC}],
        "facts": {"tpm": True},
    }
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump([record]))
    tpm_lab.cli("node", "import", str(tmp_path / "nodes.yaml"))

    vm_a = tpm_lab.boot("tpm-vm-a", Firmware.BIOS, MAC, tpm=True)
    first, console = _boot(vm_a, 1)
    assert first.fields["secrets"] == "absent"
    assert "bootsvc-attest: FAILED: bootsvc refused this TPM" in console
    (pending,) = server_events(tpm_lab, "boot.attest_pending")
    assert (pending["node"], pending["mac"], pending["first_seen"]) == (HOST, MAC, "True")
    shown = json.loads(tpm_lab.cli("node", "show", HOST, "--json"))["tpm"]
    assert shown["state"] == "pending"
    assert f"TPM endorsement key sha256 {shown['ek_sha256']}" in console

    tpm_lab.cli("node", "tpm", HOST, "--accept", "--yes")
    accepted = json.loads(tpm_lab.cli("node", "show", HOST, "--json"))["tpm"]
    assert (accepted["state"], accepted["ek_sha256"]) == ("accepted", shown["ek_sha256"])
    vm_a.reset()
    second, console = _boot(vm_a, 2)
    assert second.fields["secrets"] == "present"
    assert "bootsvc-attest: secrets unsealed by this TPM" in console
    (sealed,) = server_events(tpm_lab, "boot.attest")
    assert (sealed["node"], sealed["ek_sha256"]) == (HOST, shown["ek_sha256"])
    tpm_lab.stop_vm("tpm-vm-a")

    vm_b = tpm_lab.boot("tpm-vm-b", Firmware.BIOS, MAC, tpm=True)
    spoofed, console = _boot(vm_b, 1)
    assert spoofed.fields["ip"] == second.fields["ip"]
    assert spoofed.fields["secrets"] == "absent"
    assert "bootsvc-attest: FAILED: bootsvc refused this TPM" in console
    (refused,) = server_events(tpm_lab, "boot.attest_refused")
    assert refused["reason"] == f"not the node's registered TPM (sha256 {shown['ek_sha256']})"
    assert refused["ek_sha256"] != shown["ek_sha256"]
    assert json.loads(tpm_lab.cli("node", "show", HOST, "--json"))["tpm"] == accepted
    tpm_lab.stop_vm("tpm-vm-b")
    print(f"three attested boots in {time.monotonic() - started:.0f} s")
