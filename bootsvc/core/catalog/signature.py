"""Whether a kernel carries an Authenticode signature, which is what the
firmware and shim check on the Secure Boot path: the certificate table entry
(data directory 4) of its PE/COFF header must point at a WIN_CERTIFICATE of
type PKCS#7 inside the file. Whether the signer is trusted is the firmware's
call; a kernel without any signature is refused by every Secure Boot machine."""

from __future__ import annotations

import struct
from pathlib import Path

_PE32 = 0x10B
_PE32_PLUS = 0x20B
# Where the data directories start in the optional header, by its magic.
_DIRECTORIES_AT = {_PE32: 96, _PE32_PLUS: 112}
_CERTIFICATE_TABLE = 4
_PKCS_SIGNED_DATA = 0x0002
_HEADER_BYTES = 4096


def is_signed(path: Path) -> bool:
    with path.open("rb") as file:
        header = file.read(_HEADER_BYTES)
        size = file.seek(0, 2)
        try:
            offset, length = _certificate_table(header)
        except (struct.error, ValueError):
            return False
        if length < 8 or offset + length > size:
            return False
        file.seek(offset)
        kind: int = struct.unpack("<IHH", file.read(8))[2]
    return kind == _PKCS_SIGNED_DATA


def _certificate_table(header: bytes) -> tuple[int, int]:
    """The certificate table's file offset and size; ValueError for a file
    that is no PE image."""
    if header[:2] != b"MZ":
        raise ValueError("no MZ header")
    (pe,) = struct.unpack_from("<I", header, 0x3C)
    if header[pe : pe + 4] != b"PE\0\0":
        raise ValueError("no PE signature")
    optional = pe + 4 + 20
    (magic,) = struct.unpack_from("<H", header, optional)
    if magic not in _DIRECTORIES_AT:
        raise ValueError("unknown optional header")
    (count,) = struct.unpack_from("<I", header, optional + _DIRECTORIES_AT[magic] - 4)
    if count <= _CERTIFICATE_TABLE:
        raise ValueError("no certificate table entry")
    entry = optional + _DIRECTORIES_AT[magic] + 8 * _CERTIFICATE_TABLE
    offset, length = struct.unpack_from("<II", header, entry)
    return offset, length
