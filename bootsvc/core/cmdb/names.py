"""Normalisation of the identifiers users and firmware send us, so that the
same machine is always spelled the same way in the database and in logs."""

from __future__ import annotations

import ipaddress
import re
import uuid as uuidlib

from bootsvc.errors import InvalidInput
from bootsvc.store.artifacts import checked_sha256

_HEX = re.compile(r"[0-9a-f]{12}")
_HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,14}")
_ROLE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def mac(value: str) -> str:
    """Accept aa:bb:.., aa-bb-.., aabb.ccdd.eeff or aabbccddeeff; return aa:bb:cc:dd:ee:ff."""
    digits = re.sub(r"[:\-.]", "", value.strip().lower())
    if not _HEX.fullmatch(digits):
        raise InvalidInput(f"{value!r} is not a MAC address")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def unicast_mac(value: str) -> str:
    """`mac`, refusing what cannot be one machine's own address: all zeros,
    and group addresses (broadcast, multicast: the first octet's low bit)."""
    address = mac(value)
    if address == "00:00:00:00:00:00":
        raise InvalidInput(f"{value!r} is the all-zero MAC address, not a machine's own")
    if int(address[:2], 16) & 1:
        kind = "broadcast" if address == "ff:ff:ff:ff:ff:ff" else "multicast"
        raise InvalidInput(f"{value!r} is a {kind} MAC address, not a machine's own")
    return address


def ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise InvalidInput(f"{value!r} is not an IP address") from None


def host_ip(value: str) -> str:
    """`ip`, refusing what no host's interface can be given: the unspecified
    and broadcast addresses, multicast, loopback, link-local (the network
    never leases those) and reserved ranges."""
    address = ipaddress.ip_address(ip(value))
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        kind = "the unspecified address"
    elif address == ipaddress.IPv4Address("255.255.255.255"):
        kind = "the broadcast address"
    elif address.is_multicast:
        kind = "a multicast address"
    elif address.is_loopback:
        kind = "a loopback address"
    elif address.is_link_local:
        kind = "a link-local address"
    elif address.is_reserved:
        kind = "a reserved address"
    else:
        return str(ipaddress.ip_address(value.strip()))
    raise InvalidInput(f"{value!r} is {kind}, which no host's interface can hold")


def cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a network in CIDR form: {exc}") from None


def hostname(value: str) -> str:
    name = value.strip().lower()
    if not _HOSTNAME.fullmatch(name):
        raise InvalidInput(
            f"{value!r} is not a host name (letters, digits and '-', at most 63, "
            "not starting or ending with '-')"
        )
    return name


def domain(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_HOSTNAME.fullmatch(label) for label in labels):
        raise InvalidInput(f"{value!r} is not a DNS domain")
    return name


def object_name(value: str, what: str = "name") -> str:
    """Names of images, versions, channels, clusters and tokens."""
    if not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{value!r} is not a valid {what} (letters, digits and . _ + -, at most 64)"
        )
    return value


def file_name(value: str) -> str:
    """A name nodes see for a kernel or initrd; never a path."""
    if not _FILENAME.fullmatch(value) or value in {".", ".."}:
        raise InvalidInput(f"{value!r} is not a valid file name (no '/', at most 128)")
    return value


def interface_name(value: str) -> str:
    if not _IFNAME.fullmatch(value):
        raise InvalidInput(f"{value!r} is not a valid interface name")
    return value


sha256 = checked_sha256


def smbios_uuid(value: str) -> str:
    try:
        return str(uuidlib.UUID(value.strip()))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a UUID") from None


def role(value: str) -> str:
    name = value.strip().lower()
    if not _ROLE.fullmatch(name):
        raise InvalidInput(f"{value!r} is not a valid role name")
    return name


def vlan(value: int) -> int:
    if not 1 <= value <= 4094:
        raise InvalidInput(f"VLAN {value} is outside 1-4094")
    return value
