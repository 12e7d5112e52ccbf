"""Option codes and message types, and the encodings of the option values a
boot server reads or writes. Codes are plain ints: an option is whatever
code the client sent; the ones bootsvc uses have names here."""

from __future__ import annotations

import ipaddress
import socket
import struct
from enum import IntEnum

CLIENT_ID = 1
SERVER_ID = 2
IA_NA = 3
IA_TA = 4
IA_ADDRESS = 5
OPTION_REQUEST = 6
PREFERENCE = 7
ELAPSED_TIME = 8
RELAY_MESSAGE = 9
STATUS_CODE = 13
RAPID_COMMIT = 14
USER_CLASS = 15
VENDOR_CLASS = 16
INTERFACE_ID = 18
DNS_SERVERS = 23
DOMAIN_LIST = 24
BOOTFILE_URL = 59
BOOTFILE_PARAM = 60
CLIENT_ARCH = 61
CLIENT_NDI = 62

# (fewest bytes, most bytes, multiple of) for options whose value has a fixed
# shape; a value outside it is a malformed message, never a guess.
# fe80::/64, the prefix of link-local addresses.
LINK_LOCAL_PREFIX = bytes([0xFE, 0x80]) + bytes(6)
_ANY = 0xFFFF
LENGTHS: dict[int, tuple[int, int, int]] = {
    CLIENT_ID: (3, 130, 1),  # a DUID: 2-byte type and at most 128 bytes
    SERVER_ID: (3, 130, 1),
    IA_NA: (12, _ANY, 1),
    IA_TA: (4, _ANY, 1),
    IA_ADDRESS: (24, _ANY, 1),
    OPTION_REQUEST: (0, _ANY, 2),
    PREFERENCE: (1, 1, 1),
    ELAPSED_TIME: (2, 2, 1),
    STATUS_CODE: (2, _ANY, 1),
    RAPID_COMMIT: (0, 0, 1),
    VENDOR_CLASS: (4, _ANY, 1),
    DNS_SERVERS: (0, _ANY, 16),
    CLIENT_ARCH: (2, _ANY, 2),
    CLIENT_NDI: (3, 3, 1),
}

# Vendor class enterprise number the UEFI specification gives PXE clients.
PXE_ENTERPRISE = 343


class MessageType(IntEnum):
    SOLICIT = 1
    ADVERTISE = 2
    REQUEST = 3
    CONFIRM = 4
    RENEW = 5
    REBIND = 6
    REPLY = 7
    RELEASE = 8
    DECLINE = 9
    RECONFIGURE = 10
    INFORMATION_REQUEST = 11
    RELAY_FORWARD = 12
    RELAY_REPLY = 13


class Status(IntEnum):
    SUCCESS = 0
    UNSPEC_FAIL = 1
    NO_ADDRS_AVAIL = 2
    NO_BINDING = 3
    NOT_ON_LINK = 4
    USE_MULTICAST = 5


class OptionError(ValueError):
    """An option value that does not have its option's structure."""


def u16_list(value: bytes) -> list[int]:
    """Option request (6) and client architecture (61): 16-bit numbers."""
    if len(value) % 2:
        raise OptionError(f"odd length {len(value)} for a list of 16-bit numbers")
    return [code for (code,) in struct.iter_unpack("!H", value)]


def pack_u16_list(codes: list[int]) -> bytes:
    return b"".join(struct.pack("!H", code) for code in codes)


def addresses(value: bytes) -> list[str]:
    if len(value) % 16:
        raise OptionError(f"length {len(value)} is not a multiple of 16")
    return [socket.inet_ntop(socket.AF_INET6, value[i : i + 16]) for i in range(0, len(value), 16)]


def pack_addresses(items: list[str]) -> bytes:
    return b"".join(socket.inet_pton(socket.AF_INET6, item) for item in items)


def vendor_class(value: bytes) -> tuple[int, list[bytes]]:
    """(enterprise number, its class data items): each item is a 16-bit
    length and that many bytes."""
    if len(value) < 4:
        raise OptionError("a vendor class has a 4-byte enterprise number")
    (enterprise,) = struct.unpack_from("!I", value)
    return enterprise, class_items(value[4:])


def pack_vendor_class(enterprise: int, items: list[bytes]) -> bytes:
    return struct.pack("!I", enterprise) + b"".join(
        struct.pack("!H", len(item)) + item for item in items
    )


def class_items(data: bytes) -> list[bytes]:
    """User class (15) data, and vendor class (16) data after its enterprise
    number: each item a 16-bit length and that many bytes."""
    items, index = [], 0
    while index < len(data):
        if index + 2 > len(data):
            raise OptionError("a class data item has no length")
        (length,) = struct.unpack_from("!H", data, index)
        stop = index + 2 + length
        if stop > len(data):
            raise OptionError("a class data item runs past its option")
        items.append(data[index + 2 : stop])
        index = stop
    return items


def duid_link_address(duid: bytes) -> str | None:
    """The Ethernet address inside a DUID-LLT (type 1) or DUID-LL (type 3),
    which is how a firmware's DUID names the NIC; None for other DUIDs."""
    if len(duid) < 4:
        return None
    kind, hardware = struct.unpack_from("!HH", duid)
    address = duid[8:] if kind == 1 else duid[4:] if kind == 3 else b""
    if hardware != 1 or len(address) != 6:
        return None
    return address.hex(":")


def eui64_mac(address: str) -> str | None:
    """The Ethernet address in the EUI-64 interface identifier of a
    link-local address (RFC 4291 appendix A: ff:fe in the middle, the
    universal/local bit flipped), which is how DHCPv6 clients send; None
    for any other address. iPXE's DUID may be a DUID-UUID of all zeros:
    then the source address is what names the NIC."""
    try:
        packed = ipaddress.IPv6Address(address.partition("%")[0]).packed
    except ValueError:
        return None
    if packed[:8] != LINK_LOCAL_PREFIX or packed[11:13] != b"\xff\xfe":
        return None
    mac = bytes([packed[8] ^ 0x02, *packed[9:11], *packed[13:16]])
    return mac.hex(":")


def duid_ll(mac: str) -> bytes:
    """A DUID-LL for an Ethernet address: a server's identity (option 2)."""
    return struct.pack("!HH", 3, 1) + bytes.fromhex(mac.replace(":", ""))


def status(code: int, message: str = "") -> bytes:
    return struct.pack("!H", code) + message.encode()
