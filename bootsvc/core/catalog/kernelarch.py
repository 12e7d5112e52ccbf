"""Which machine a kernel is built for, read from its own header: the
PE/COFF header of an EFI-stub kernel, the arm64 Image header (also inside
the gzip that Debian's arm64 vmlinuz is), or the x86 boot protocol header."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

X86_64 = "x86_64"
ARM64 = "arm64"
ARCHITECTURES = (X86_64, ARM64)
# IMAGE_FILE_MACHINE_* of the PE/COFF specification.
_PE_MACHINES = {0x8664: X86_64, 0xAA64: ARM64}
_HEADER_BYTES = 4096
# Compressed bytes read from a gzip'd kernel: enough for its first 4 KiB.
_GZIP_READ_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# Documentation/arch/arm64/booting.rst: "ARM\x64" at offset 0x38.
_ARM64_MAGIC_AT = 0x38
_ARM64_MAGIC = b"ARM\x64"
# Documentation/arch/x86/boot.rst: "HdrS" at 0x202, the protocol version after it.
_X86_MAGIC_AT = 0x202
_X86_MAGIC = b"HdrS"


def architecture(path: Path) -> str | None:
    """x86_64, arm64, or None for a file that is no kernel bootsvc knows."""
    with path.open("rb") as file:
        header = file.read(_GZIP_READ_BYTES)
    if header.startswith(_GZIP_MAGIC):
        try:
            header = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(header, _HEADER_BYTES)
        except zlib.error:
            return None
    if header[_ARM64_MAGIC_AT : _ARM64_MAGIC_AT + 4] == _ARM64_MAGIC:
        return ARM64
    machine = _pe_machine(header)
    if machine is not None:
        return _PE_MACHINES.get(machine)
    if header[_X86_MAGIC_AT : _X86_MAGIC_AT + 4] == _X86_MAGIC:
        return X86_64
    return None


def _pe_machine(header: bytes) -> int | None:
    if header[:2] != b"MZ" or len(header) < 0x40:
        return None
    (pe,) = struct.unpack_from("<I", header, 0x3C)
    if header[pe : pe + 4] != b"PE\0\0" or len(header) < pe + 6:
        return None
    machine: int = struct.unpack_from("<H", header, pe + 4)[0]
    return machine
