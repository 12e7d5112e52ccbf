"""A BIOS VM boots images/debian-dracut from bootsvc: dracut's initramfs
brings up the NIC by DHCP, livenet fetches the squashfs root, dmsquash-live
mounts it, the bootsvc module's attestation client fetches the node's
secrets sealed to its TPM (an swtpm whose key an admin registered before
the first boot), and its overlay hook copies the node's own files from
bootsvc's overlay into it before switch_root; the root reports up.
The boot's time is printed (pytest -s) for docs/benchmarks.md."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bootsvc.lab import server
from bootsvc.lab.console import Boot, printable
from bootsvc.lab.lab import Lab
from bootsvc.lab.qemu import Firmware
from tests.e2e.conftest import server_events
from tests.support.swtpm import endorsement_key

pytestmark = pytest.mark.e2e

IMAGE = "debian-dracut"
HOST = "dracut1"
MAC = "52:54:00:d7:ac:01"
MEMORY_MB = 1536
# TCG on a shared 2-core machine; the boot itself takes a minute or two.
BOOT_TIMEOUT_SECONDS = 900.0
# What the serial getty may print on the console between a file's lines:
# its issue line and its login prompt.
_GETTY = re.compile(r"^(Debian GNU/Linux .*|\S+ login: ?)")


def _printed(boot: Boot, path: str) -> list[str]:
    """A file's non-blank lines as the console printed them, without the getty's."""
    lines = (_GETTY.sub("", line) for line in boot.files[path].splitlines())
    return [line for line in lines if line]


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_dracut_image_boots_with_the_nodes_own_files_and_sealed_secrets(
    dracut_lab: Lab, tmp_path: Path
) -> None:
    lab = dracut_lab
    lab.cli("node", "add", HOST, "--mac", MAC, "--image", f"{IMAGE}=1")
    ek = tmp_path / "ek.pem"
    ek.write_text(endorsement_key(lab.vm_files(HOST).tpm_state))
    lab.cli("node", "tpm", HOST, "--ek", str(ek))
    token = lab.token("e2e-dracut")
    config = server.api(lab.network, f"/nodes/{HOST}/config", token)
    delivered = {f["path"]: f.get("content") or "" for f in config["files"]}
    assert config["secrets"], "a node with no secrets proves nothing here"
    delivered.update(dict.fromkeys(config["secrets"], ""))

    started = time.monotonic()
    vm = lab.boot(HOST, Firmware.BIOS, MAC, memory_mb=MEMORY_MB, tpm=True)
    boots = vm.wait_up(BOOT_TIMEOUT_SECONDS)
    vm.console.poll()
    tail = "\n".join(printable(vm.console.text).splitlines()[-60:])
    assert boots, f"{HOST} did not come up; console:\n{tail}"
    print(f"debian-dracut up {time.monotonic() - started:.1f} s after power-on")

    boot = boots[0]
    assert (boot.fields["image"], boot.fields["version"]) == (IMAGE, "1")
    assert (boot.fields["mac"], boot.fields["firmware"]) == (MAC, "bios")
    # The overlay's own unit (bootsvc-up) reported: it was in the root.
    assert boot.fields["report"] == "overlay"
    # The secrets came sealed to this TPM, not by a token in the script.
    # (dracut's hooks log to the journal, not the console.)
    (sealed,) = server_events(lab, "boot.attest")
    assert (sealed["node"], sealed["mac"], sealed["files"]) == (
        HOST,
        MAC,
        str(len(config["secrets"])),
    ), sealed
    assert not server_events(lab, "boot.secrets"), "secrets went by token too"
    # The pre-pivot hook put bootsvc's files into the final root.
    assert delivered["/etc/hostname"] == f"{HOST}\n"
    assert _printed(boot, "/etc/hostname") == [HOST]
    assert _printed(boot, "/etc/hosts") == _lines(delivered["/etc/hosts"])

    # bootsvc recorded the boot as this version's. (Its health reads
    # unhealthy: the shared report lists cluster services this image lacks.)
    status = server.api(lab.network, f"/nodes/{HOST}/status", token)
    assert status["booted"] == f"{IMAGE} 1", status
    reports = server.api(lab.network, f"/reports?node={HOST}", token)
    # The overlay's report (the agent's, without services, may come later).
    up = next(r for r in reports if r["stage"] == "up" and "services" in r["details"])
    assert (up["version"], up["mac"]) == ("1", MAC), up
    # iPXE fetched the kernel and initrd, livenet the root (its URL names
    # no MAC: the node's address does).
    served = server_events(lab, "http.artifact")
    assert {"vmlinuz", "initrd.img"} <= {line["file"] for line in served if line.get("mac") == MAC}
    assert any(
        (line["file"], line.get("ip"), line.get("status"))
        == ("root.squashfs", boot.fields["ip"], "200")
        for line in served
    ), served
