"""`image show` says whether a version can boot Secure Boot nodes: its kernel's
Authenticode signature is read at import. A signed PE image as Debian ships it
stands in for a kernel, and the same image with its signature stripped by
sbattach for an unsigned one."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import Run

SIGNED = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")


@pytest.mark.skipif(
    not SIGNED.is_file() or shutil.which("sbattach") is None,
    reason="needs grub-efi-amd64-signed and sbsigntool",
)
def test_image_show_says_whether_the_kernel_is_signed(run: Run, tmp_path: Path) -> None:
    unsigned = tmp_path / "unsigned.efi"
    shutil.copyfile(SIGNED, unsigned)
    subprocess.run(["sbattach", "--remove", str(unsigned)], check=True, capture_output=True)
    listed = subprocess.run(
        ["sbverify", "--list", str(unsigned)], check=False, capture_output=True, text=True
    )
    assert "No signature table present" in listed.stdout + listed.stderr
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"initrd")
    for version, kernel in (("1", SIGNED), ("2", unsigned)):
        run(
            "image",
            "import",
            "--name",
            "hv",
            "--version",
            version,
            "--kernel",
            str(kernel),
            "--initrd",
            str(initrd),
        )
    signed = run("image", "show", "hv", "1").output
    assert re.search(r"^secure boot: +yes: the kernel is signed$", signed, re.M)
    assert re.search(r"^architecture: +x86_64$", signed, re.M)
    refused = run("image", "show", "hv", "2").output
    assert re.search(r"^secure boot: +refused: the kernel is not signed$", refused, re.M)
