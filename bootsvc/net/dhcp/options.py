"""Option codes, message types and the encodings of option values.

Codes are plain ints (a DHCP option is whatever byte the client sent); the few
this server reads or writes have names here.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Mapping
from enum import IntEnum

PAD = 0
SUBNET_MASK = 1
ROUTER = 3
DNS_SERVERS = 6
HOSTNAME = 12
DOMAIN_NAME = 15
BROADCAST_ADDRESS = 28
NTP_SERVERS = 42
VENDOR_SPECIFIC = 43
REQUESTED_IP = 50
LEASE_TIME = 51
OVERLOAD = 52
MESSAGE_TYPE = 53
SERVER_ID = 54
PARAMETER_LIST = 55
MAX_MESSAGE_SIZE = 57
RENEWAL_TIME = 58
REBINDING_TIME = 59
VENDOR_CLASS = 60
CLIENT_ID = 61
TFTP_SERVER = 66
BOOTFILE = 67
USER_CLASS = 77
RELAY_AGENT = 82
CLIENT_ARCH = 93
CLIENT_NDI = 94
CLIENT_UUID = 97
IPXE_ENCAPSULATED = 175
END = 255

# PXE sub-option 6 of option 43: boot server discovery control. Bit 3 (8)
# tells the client to skip discovery and download the boot file it was given.
PXE_DISCOVERY_CONTROL = 6
PXE_DOWNLOAD_BOOT_FILE = 8


class MessageType(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8

    @property
    def label(self) -> str:
        return self.name.lower()


CLIENT_MESSAGES = frozenset(
    {
        MessageType.DISCOVER,
        MessageType.REQUEST,
        MessageType.DECLINE,
        MessageType.RELEASE,
        MessageType.INFORM,
    }
)

# (minimum, maximum, multiple-of) lengths of the options this server reads;
# a client option outside its bounds makes the packet malformed. Variable ones
# have no maximum: RFC 3396 lets any option span several instances.
LONG = 65535
LENGTHS: Mapping[int, tuple[int, int, int]] = {
    HOSTNAME: (1, LONG, 1),
    REQUESTED_IP: (4, 4, 1),
    LEASE_TIME: (4, 4, 1),
    OVERLOAD: (1, 1, 1),
    MESSAGE_TYPE: (1, 1, 1),
    SERVER_ID: (4, 4, 1),
    PARAMETER_LIST: (1, LONG, 1),
    MAX_MESSAGE_SIZE: (2, 2, 1),
    VENDOR_CLASS: (1, LONG, 1),
    CLIENT_ID: (2, LONG, 1),
    USER_CLASS: (1, LONG, 1),
    RELAY_AGENT: (2, LONG, 1),
    CLIENT_ARCH: (2, LONG, 2),
    CLIENT_NDI: (3, 3, 1),
    CLIENT_UUID: (17, 17, 1),
}


def ip(value: str) -> bytes:
    return socket.inet_aton(value)


def ips(values: Iterable[str]) -> bytes:
    return b"".join(socket.inet_aton(value) for value in values)


def u32(value: int) -> bytes:
    return struct.pack("!I", value)


def text(value: str) -> bytes:
    return value.encode("ascii", "replace")


U16 = struct.Struct("!H")


def to_u16s(data: bytes) -> tuple[int, ...]:
    return tuple(value for (value,) in U16.iter_unpack(data[: len(data) // 2 * 2]))


def to_text(data: bytes) -> str:
    """A text option as ASCII; some clients end it with NULs. A NUL inside is
    replaced like any byte that is not ASCII: no database column takes it,
    and one client's lease would fail the commit of a whole batch."""
    return data.decode("ascii", "replace").rstrip("\x00").replace("\x00", "\ufffd")


class SubOptionError(ValueError):
    """Encapsulated options (43, 175) that run past their end."""


def encode_suboptions(items: Mapping[int, bytes]) -> bytes:
    """Type-length-value sub-options as in option 43 and 175, ended by 255."""
    out = bytearray()
    for code, value in items.items():
        if not 0 < code < 255 or len(value) > 255:
            raise ValueError(f"sub-option {code} of {len(value)} bytes cannot be encoded")
        out += bytes((code, len(value))) + value
    out.append(END)
    return bytes(out)


def decode_suboptions(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    index = 0
    while index < len(data):
        code = data[index]
        if code == PAD:
            index += 1
            continue
        if code == END:
            break
        if index + 1 >= len(data):
            raise SubOptionError(f"sub-option {code} has no length")
        end = index + 2 + data[index + 1]
        if end > len(data):
            raise SubOptionError(f"sub-option {code} runs past the end")
        found[code] = found.get(code, b"") + data[index + 2 : end]
        index = end
    return found


def user_classes(data: bytes) -> list[bytes]:
    """Option 77. RFC 3004 says length-prefixed items, but iPXE and others send
    one bare string ("iPXE"); a value that does not parse as items is one."""
    items: list[bytes] = []
    index = 0
    while index < len(data):
        end = index + 1 + data[index]
        if data[index] == 0 or end > len(data):
            return [data]
        items.append(data[index + 1 : end])
        index = end
    return items
