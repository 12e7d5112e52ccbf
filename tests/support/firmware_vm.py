"""QEMU command lines for network-booting firmware (TCG, no disk): SeaBIOS
with QEMU's default NIC ROM (iPXE), or OVMF with an empty `romfile=` so that
edk2's own network stack does PXE and HTTP Boot."""

from __future__ import annotations

import shutil
from pathlib import Path

OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS.fd")


def qemu_argv(mac: str, work: Path, *, ovmf: bool, uuid: str | None = None) -> list[str]:
    """Boot from the network on tap device `tap0`; OVMF keeps its variables in `work`."""
    argv = [
        "qemu-system-x86_64", "-machine", "accel=tcg", "-m", "256", "-display", "none",
        "-serial", "none", "-boot", "n",
        "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
    ]  # fmt: skip
    if uuid:
        argv += ["-uuid", uuid]
    if not ovmf:
        return [*argv, "-device", f"virtio-net-pci,netdev=n0,mac={mac}"]
    shutil.copy(OVMF_VARS, work / "vars.fd")
    return [
        *argv,
        "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
        "-drive", f"if=pflash,format=raw,file={work / 'vars.fd'}",
        "-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=",
    ]  # fmt: skip
