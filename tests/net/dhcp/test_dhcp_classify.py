"""Firmware classification from options 93, 60, 77 and 175."""

from __future__ import annotations

import pytest

from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.classify import Firmware, classify
from bootsvc.net.dhcp.codec import Packet


def packet(**options: bytes) -> Packet:
    codes = {
        "arch": opt.CLIENT_ARCH,
        "vendor": opt.VENDOR_CLASS,
        "user": opt.USER_CLASS,
        "ipxe": opt.IPXE_ENCAPSULATED,
    }
    return Packet(
        op=1,
        chaddr=bytes(16),
        options={opt.MESSAGE_TYPE: b"\x01", **{codes[k]: v for k, v in options.items()}},
    )


@pytest.mark.parametrize(
    ("options", "firmware", "arch"),
    [
        ({"arch": b"\x00\x00", "vendor": b"PXEClient:Arch:00000:UNDI:002001"}, Firmware.BIOS, 0),
        ({"arch": b"\x00\x06"}, Firmware.UEFI_X86, 6),
        ({"arch": b"\x00\x07", "vendor": b"PXEClient:Arch:00007"}, Firmware.UEFI_X86, 7),
        ({"arch": b"\x00\x09"}, Firmware.UEFI_X86, 9),
        ({"arch": b"\x00\x0a"}, Firmware.UEFI_ARM, 10),
        ({"arch": b"\x00\x0b"}, Firmware.UEFI_ARM, 11),
        ({"arch": b"\x00\x13", "vendor": b"HTTPClient:Arch:00019"}, Firmware.UEFI_ARM, 19),
        ({"arch": b"\x00\x10", "vendor": b"HTTPClient:Arch:00016"}, Firmware.UEFI_HTTP, 16),
        ({"vendor": b"HTTPClient:Arch:00016:UNDI:003000"}, Firmware.UEFI_HTTP, 16),
        ({"arch": b"\x00\x07", "vendor": b"HTTPClient"}, Firmware.UEFI_HTTP, 7),
        # No option 93: the architecture comes from the vendor class.
        ({"vendor": b"PXEClient:Arch:00000:UNDI:002001"}, Firmware.BIOS, 0),
        ({"vendor": b"PXEClient:Arch:00009:UNDI:003000"}, Firmware.UEFI_X86, 9),
        # iPXE wins whatever the architecture: it gets the script, not a loader.
        ({"arch": b"\x00\x00", "user": b"iPXE"}, Firmware.IPXE, 0),
        ({"arch": b"\x00\x07", "user": b"\x04iPXE\x03abc"}, Firmware.IPXE, 7),
        ({"arch": b"\x00\x07", "ipxe": b"\x13\x01\x01"}, Firmware.IPXE, 7),
        ({"user": b"gPXE"}, Firmware.NONE, None),
        ({"arch": b"\x00\x02"}, Firmware.NONE, 2),
        ({}, Firmware.NONE, None),
        ({"vendor": b"MSFT 5.0"}, Firmware.NONE, None),
    ],
)
def test_firmware(options: dict[str, bytes], firmware: Firmware, arch: int | None) -> None:
    client = classify(packet(**options))
    assert (client.firmware, client.arch) == (firmware, arch)
    assert client.network_boot is (firmware is not Firmware.NONE)


def test_uuid_in_smbios_byte_order() -> None:
    raw = bytes.fromhex("00" + "44332211" + "6655" + "8877" + "99aabbccddeeff00")
    client = classify(Packet(op=1, chaddr=bytes(16), options={opt.CLIENT_UUID: raw}))
    assert client.uuid == "11223344-5566-7788-99aa-bbccddeeff00"
    zero = classify(Packet(op=1, chaddr=bytes(16), options={opt.CLIENT_UUID: bytes(17)}))
    assert zero.uuid is None
