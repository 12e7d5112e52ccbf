"""A kernel's architecture is read from its own header: Debian's x86-64
kernel as the busybox-test build unpacked it, and arm64 Images laid out as
the kernel's booting documentation gives them, bare and gzip-compressed
(Debian's arm64 vmlinuz is the latter)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import yaml

from bootsvc.core.catalog import kernelarch


def _arm64_image(efi_stub: bool) -> bytes:
    """The 64-byte arm64 Image header; with an EFI stub, "MZ" first and a PE
    header (machine 0xAA64) where offset 0x3C points."""
    header = bytearray(4096)
    header[0x38:0x3C] = b"ARM\x64"
    if efi_stub:
        header[0:2] = b"MZ"
        struct.pack_into("<I", header, 0x3C, 0x40)
        header[0x40:0x44] = b"PE\0\0"
        struct.pack_into("<H", header, 0x44, 0xAA64)
    return bytes(header) + b"\0" * 8192


def test_debians_x86_64_kernel(busybox_test_v1: Path) -> None:
    manifest = yaml.safe_load(busybox_test_v1.read_text())
    kernel = busybox_test_v1.parent / manifest["kernel"]["path"]
    assert kernelarch.architecture(kernel) == "x86_64"


@pytest.mark.parametrize("efi_stub", [True, False])
@pytest.mark.parametrize("compressed", [True, False])
def test_arm64_images(tmp_path: Path, efi_stub: bool, compressed: bool) -> None:
    image = _arm64_image(efi_stub)
    path = tmp_path / "vmlinuz"
    path.write_bytes(gzip.compress(image) if compressed else image)
    assert kernelarch.architecture(path) == "arm64"


@pytest.mark.parametrize(
    "content",
    [b"", b"MZ", b"not a kernel" * 100, b"\x1f\x8b" + b"\xff" * 100, b"MZ" + b"\xff" * 100],
)
def test_anything_else_is_unknown(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vmlinuz"
    path.write_bytes(content)
    assert kernelarch.architecture(path) is None
