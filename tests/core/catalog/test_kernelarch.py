"""A kernel's architecture is read from its own header: Debian's x86-64 and
arm64 kernels as the busybox-test builds unpacked them, and arm64 Images laid
out as the kernel's booting documentation gives them, bare and
gzip-compressed (as an arm64 vmlinuz without an EFI stub may be)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import yaml

from bootsvc.core.catalog import imports, kernelarch
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database


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


def test_debians_arm64_kernel_is_recorded_at_import(
    busybox_test_arm64: Path, db: Database, store: ArtifactStore
) -> None:
    """Debian 12's arm64 vmlinuz: a signed EFI-stub Image ("ARM\\x64" at 0x38)."""
    manifest = yaml.safe_load(busybox_test_arm64.read_text())
    kernel = busybox_test_arm64.parent / manifest["kernel"]["path"]
    assert kernel.read_bytes()[0x38:0x3C] == b"ARM\x64"
    assert kernelarch.architecture(kernel) == "arm64"
    view = imports.import_version(db, store, imports.read_manifest(busybox_test_arm64), "t")
    assert (view.image, view.architecture, view.kernel_signed) == (
        "busybox-test-arm64",
        "arm64",
        True,
    )


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
