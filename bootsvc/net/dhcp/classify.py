"""Which firmware sent a request, from the options it carries: option 93
(client architecture, RFC 4578), option 60 ("PXEClient:Arch:xxxxx:..." or
"HTTPClient:..."), option 77 (user class "iPXE") and option 175 (iPXE's own
encapsulated options). The answer decides which first-stage loader it gets."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bootsvc import digits
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import Packet

ARCH_BIOS = 0
ARCHES_UEFI_X86 = frozenset({6, 7, 9})
ARCHES_UEFI_ARM = frozenset({10, 11})
# 16 is x64 UEFI HTTP Boot, 15 its 32-bit twin; ARM HTTP (18, 19) counts as ARM.
ARCHES_UEFI_HTTP = frozenset({15, 16})
ARCHES_ARM_HTTP = frozenset({18, 19})
# The 64-bit ones, which bootsvc has a loader for.
ARCH_ARM64, ARCH_ARM64_HTTP = 11, 19


class Firmware(StrEnum):
    BIOS = "bios"
    UEFI_X86 = "uefi-x86"
    UEFI_ARM = "uefi-arm"
    UEFI_HTTP = "uefi-http"
    IPXE = "ipxe"
    # Not a network boot: an operating system's DHCP client, or an
    # architecture we have no loader for.
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Client:
    firmware: Firmware
    arch: int | None
    vendor_class: str
    uuid: str | None

    @property
    def network_boot(self) -> bool:
        return self.firmware is not Firmware.NONE


def _arch_from_vendor(vendor: str) -> int | None:
    parts = vendor.split(":")
    if len(parts) >= 3 and parts[1] == "Arch":
        return digits.number(parts[2])
    return None


def _is_ipxe(packet: Packet) -> bool:
    if opt.IPXE_ENCAPSULATED in packet.options:
        return True
    user_class = packet.options.get(opt.USER_CLASS)
    return user_class is not None and b"iPXE" in opt.user_classes(user_class)


def _uuid(packet: Packet) -> str | None:
    value = packet.options.get(opt.CLIENT_UUID)
    if value is None or len(value) != 17 or not any(value[1:]):
        return None
    # PXE sends the SMBIOS UUID in SMBIOS byte order: the first three fields
    # little-endian, which is how dmidecode and iPXE's ${uuid} print it.
    return str(uuidlib.UUID(bytes_le=value[1:]))


def firmware_of(ipxe: bool, arch: int | None, vendor: str) -> Firmware:
    """The firmware, from what DHCPv4 and DHCPv6 clients both say: whether
    they are iPXE, their architecture and their vendor class."""
    if ipxe:
        return Firmware.IPXE
    if arch in ARCHES_ARM_HTTP or arch in ARCHES_UEFI_ARM:
        return Firmware.UEFI_ARM
    if arch in ARCHES_UEFI_HTTP or (vendor.startswith("HTTPClient") and arch is None):
        return Firmware.UEFI_HTTP
    if arch in ARCHES_UEFI_X86:
        return Firmware.UEFI_HTTP if vendor.startswith("HTTPClient") else Firmware.UEFI_X86
    if arch == ARCH_BIOS:
        return Firmware.BIOS
    return Firmware.NONE


def arch_of(arches: Sequence[int], vendor: str) -> int | None:
    """The client architecture option's first entry, else the one in a
    "PXEClient:Arch:xxxxx" or "HTTPClient:Arch:xxxxx" vendor class."""
    if arches:
        return arches[0]
    if vendor.startswith(("PXEClient", "HTTPClient")):
        return _arch_from_vendor(vendor)
    return None


def classify(packet: Packet) -> Client:
    vendor = packet.text_option(opt.VENDOR_CLASS) or ""
    arch = arch_of(opt.to_u16s(packet.options.get(opt.CLIENT_ARCH, b"")), vendor)
    return Client(firmware_of(_is_ipxe(packet), arch, vendor), arch, vendor, _uuid(packet))
