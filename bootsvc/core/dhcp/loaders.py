"""Which first-stage loader a firmware gets, and the reply fields that carry it.

BIOS gets undionly.kpxe and UEFI x86 the configured EFI loader, both over
TFTP; UEFI HTTP Boot gets the loader's HTTP URL and option 60 "HTTPClient"
(edk2 ignores an offer without it); iPXE gets /boot.ipxe over HTTP, which is
what ends the chainload loop. A UEFI machine on the Secure Boot path gets the
signed shim instead of iPXE, by TFTP or HTTP alike. ARM64 UEFI gets Debian's
signed arm64 shim, by TFTP or HTTP: Debian ships no arm64 iPXE. 32-bit ARM
and unknown architectures get no boot file.
"""

from __future__ import annotations

from dataclasses import dataclass

from bootsvc.core.boot.secureboot import SHIM, SHIM_ARM64
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.classify import ARCH_ARM64, ARCH_ARM64_HTTP, Client, Firmware
from bootsvc.settings import Settings

BIOS_LOADER = "undionly.kpxe"
FILE_FIELD_SIZE = 128


@dataclass(frozen=True)
class Loaders:
    base_url: str
    uefi_loader: str
    # The TFTP server; None means this server's address on the interface.
    next_server: str | None
    # The path a machine the CMDB does not know takes.
    secure_boot: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Loaders:
        return cls(
            settings.base_url,
            settings.uefi_loader,
            settings.dhcp_next_server or None,
            settings.secure_boot,
        )


@dataclass(frozen=True)
class FirstStageLoader:
    name: str
    firmware: Firmware
    # Option 60 the reply must carry, if any.
    vendor_class: bytes | None = None


def loader_for(
    client: Client, loaders: Loaders, secure_boot: bool = False
) -> FirstStageLoader | None:
    """The loader this firmware boots next, or None for one we have no loader for."""
    firmware = client.firmware
    uefi_loader = SHIM if secure_boot else loaders.uefi_loader
    if firmware is Firmware.IPXE:
        return FirstStageLoader(f"{loaders.base_url}/boot.ipxe", firmware)
    if firmware is Firmware.UEFI_HTTP:
        url = f"{loaders.base_url}/ipxe/{uefi_loader}"
        return FirstStageLoader(url, firmware, b"HTTPClient")
    if firmware is Firmware.UEFI_X86:
        return FirstStageLoader(uefi_loader, firmware)
    if firmware is Firmware.BIOS:
        return FirstStageLoader(BIOS_LOADER, firmware)
    if firmware is Firmware.UEFI_ARM and client.arch == ARCH_ARM64:
        return FirstStageLoader(SHIM_ARM64, firmware)
    if firmware is Firmware.UEFI_ARM and client.arch == ARCH_ARM64_HTTP:
        return FirstStageLoader(f"{loaders.base_url}/ipxe/{SHIM_ARM64}", firmware, b"HTTPClient")
    return None


@dataclass(frozen=True)
class LoaderFields:
    siaddr: str
    file: str
    options: dict[int, bytes]


def loader_fields(boot: FirstStageLoader, loaders: Loaders, server_ip: str) -> LoaderFields:
    """siaddr (next server), the file field and options 66, 67 and 60.

    A boot file longer than the file field goes in option 67 only."""
    next_server = loaders.next_server or server_ip
    options = {opt.TFTP_SERVER: opt.text(next_server), opt.BOOTFILE: opt.text(boot.name)}
    if boot.vendor_class:
        options[opt.VENDOR_CLASS] = boot.vendor_class
    file = boot.name if len(boot.name) < FILE_FIELD_SIZE else ""
    return LoaderFields(next_server, file, options)
