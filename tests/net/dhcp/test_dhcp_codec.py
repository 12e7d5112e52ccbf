"""The DHCP codec: round trips, option overload, long options, malformed
input, and agreement with an independent decoder (scapy) on generated
packets and on packets captured from real firmware (fixtures/)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.layers.dhcp import BOOTP, DHCP

from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.classify import Firmware, classify
from bootsvc.net.dhcp.codec import (
    MAGIC,
    DecodeError,
    EncodeError,
    Packet,
    build,
    parse,
)

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "firmware_discovers.json").read_text())
QEMU_UUID = "11223344-5566-7788-99aa-bbccddeeff00"

ipv4 = st.binary(min_size=4, max_size=4)
addresses = st.builds(lambda raw: ".".join(str(b) for b in raw), ipv4)
# Option values that scapy types the same way we store them (bytes in,
# bytes out), so that the two decoders can be compared byte for byte.
typed_options = {
    opt.SUBNET_MASK: ipv4,
    opt.ROUTER: st.lists(ipv4, min_size=1, max_size=4).map(b"".join),
    opt.DNS_SERVERS: st.lists(ipv4, min_size=1, max_size=4).map(b"".join),
    opt.HOSTNAME: st.binary(min_size=1, max_size=60),
    opt.DOMAIN_NAME: st.binary(min_size=1, max_size=60),
    opt.REQUESTED_IP: ipv4,
    opt.LEASE_TIME: st.binary(min_size=4, max_size=4),
    opt.SERVER_ID: ipv4,
    opt.PARAMETER_LIST: st.binary(min_size=1, max_size=40),
    opt.MAX_MESSAGE_SIZE: st.integers(576, 1500).map(lambda n: struct.pack("!H", n)),
    opt.VENDOR_CLASS: st.binary(min_size=1, max_size=60),
    opt.CLIENT_ID: st.binary(min_size=2, max_size=20),
    opt.USER_CLASS: st.binary(min_size=1, max_size=30),
    opt.CLIENT_ARCH: st.binary(min_size=2, max_size=2),
    opt.CLIENT_NDI: st.binary(min_size=3, max_size=3),
    opt.CLIENT_UUID: st.binary(min_size=16, max_size=16).map(lambda b: b"\x00" + b),
    opt.IPXE_ENCAPSULATED: st.binary(min_size=1, max_size=60),
    250: st.binary(min_size=0, max_size=40),
}


@st.composite
def packets(draw: st.DrawFn, long_values: bool = False) -> Packet:
    codes = draw(st.lists(st.sampled_from(sorted(typed_options)), unique=True, max_size=8))
    options = {opt.MESSAGE_TYPE: bytes((draw(st.integers(1, 8)),))}
    for code in codes:
        options[code] = draw(typed_options[code])
    if long_values:
        options[240] = draw(st.binary(min_size=256, max_size=600))
    return Packet(
        op=draw(st.sampled_from([1, 2])),
        xid=draw(st.integers(0, 2**32 - 1)),
        chaddr=draw(st.binary(min_size=6, max_size=6)) + bytes(10),
        hops=draw(st.integers(0, 16)),
        secs=draw(st.integers(0, 65535)),
        flags=draw(st.sampled_from([0, 0x8000])),
        ciaddr=draw(addresses),
        yiaddr=draw(addresses),
        siaddr=draw(addresses),
        giaddr=draw(addresses),
        sname=draw(st.binary(max_size=63).map(lambda b: b.replace(b"\0", b"x"))),
        file=draw(st.binary(max_size=127).map(lambda b: b.replace(b"\0", b"x"))),
        options=options,
    )


def scapy_view(data: bytes) -> tuple[dict[str, Any], dict[int, bytes]]:
    """The header and options as scapy decodes them; each option is encoded
    again by scapy alone to get its bytes, and repeated codes are joined."""
    bootp = BOOTP(data)
    header = {
        "op": bootp.op,
        "xid": bootp.xid,
        "secs": bootp.secs,
        "flags": int(bootp.flags),
        "ciaddr": bootp.ciaddr,
        "yiaddr": bootp.yiaddr,
        "siaddr": bootp.siaddr,
        "giaddr": bootp.giaddr,
        "chaddr": bytes(bootp.chaddr),
    }
    found: dict[int, bytes] = {}
    for item in bootp[DHCP].options:
        if item in ("end", "pad"):
            continue
        wire = raw(DHCP(options=[item, "end"]))
        code, length = wire[0], wire[1]
        found[code] = found.get(code, b"") + wire[2 : 2 + length]
    return header, found


def our_view(packet: Packet) -> tuple[dict[str, Any], dict[int, bytes]]:
    header = {
        "op": packet.op,
        "xid": packet.xid,
        "secs": packet.secs,
        "flags": packet.flags,
        "ciaddr": packet.ciaddr,
        "yiaddr": packet.yiaddr,
        "siaddr": packet.siaddr,
        "giaddr": packet.giaddr,
        "chaddr": packet.chaddr,
    }
    return header, packet.options


@settings(max_examples=300)
@given(packets())
def test_round_trip(packet: Packet) -> None:
    assert parse(build(packet, 1500)) == packet


@settings(max_examples=200)
@given(packets())
def test_scapy_decodes_what_we_build(packet: Packet) -> None:
    assert scapy_view(build(packet, 1500)) == our_view(packet)


@settings(max_examples=100)
@given(packets(long_values=True))
def test_long_options_split_and_joined(packet: Packet) -> None:
    """RFC 3396: a value over 255 bytes goes out as several instances of
    the option, in order, and comes back whole."""
    wire = build(packet, 1500)
    value = packet.options[240]
    instances = [item[1] for item in BOOTP(wire)[DHCP].options if item[0] == 240]
    assert len(instances) == (len(value) + 254) // 255
    assert b"".join(instances) == value
    assert parse(wire) == packet


def test_overload_moves_options_into_file_and_sname() -> None:
    """A reply bigger than 576 bytes overflows into `file`, then `sname`,
    with option 52 saying so, and parses back to the same options."""
    options = {
        opt.MESSAGE_TYPE: b"\x02",
        opt.HOSTNAME: b"h" * 200,
        224: b"a" * 150,
        225: b"b" * 50,
        226: b"c" * 60,
    }
    packet = Packet(op=2, xid=7, chaddr=bytes(range(6)) + bytes(10), options=options)
    wire = build(packet)
    assert len(wire) == 576 - 28
    scapy = BOOTP(wire)
    assert ("dhcp-option-overload", 3) in scapy[DHCP].options
    # 224 does not fit whole anywhere: it is split at the end of the
    # options field; 226 fits whole in sname and moves there.
    assert scapy.file[0] == 224 and scapy.sname[:2] == bytes((226, 60))
    assert parse(wire) == packet


def test_overload_keeps_a_boot_file() -> None:
    options = {opt.MESSAGE_TYPE: b"\x02", opt.HOSTNAME: b"h" * 250, 224: b"v" * 100}
    packet = Packet(op=2, chaddr=bytes(16), file=b"undionly.kpxe", options=options)
    wire = build(packet)
    assert ("dhcp-option-overload", 2) in BOOTP(wire)[DHCP].options
    assert BOOTP(wire).file.rstrip(b"\0") == b"undionly.kpxe"
    assert parse(wire) == packet


def test_options_that_cannot_fit_are_refused() -> None:
    options = {opt.MESSAGE_TYPE: b"\x02", 224: b"x" * 800}
    with pytest.raises(EncodeError):
        build(Packet(op=2, chaddr=bytes(16), file=b"f", sname=b"s", options=options))
    assert parse(build(Packet(op=2, chaddr=bytes(16), options=options), 1500)).options == options


def test_option_split_across_fields_by_hand_is_joined() -> None:
    """A peer that overloads and splits an option between the options field
    and `file` (RFC 3396) is read as one option."""
    wire = bytearray(build(Packet(op=1, chaddr=bytes(16), options={opt.MESSAGE_TYPE: b"\x01"})))
    start = 240
    wire[start:] = bytes((53, 1, 1, 52, 1, 1, 12, 3)) + b"abc" + b"\xff"
    wire[108:236] = (bytes((12, 2)) + b"de" + b"\xff").ljust(128, b"\0")
    assert parse(bytes(wire)).options == {53: b"\x01", 12: b"abcde"}


def valid_discover() -> bytes:
    options = {opt.MESSAGE_TYPE: b"\x01", opt.PARAMETER_LIST: bytes((1, 3, 6))}
    return build(Packet(op=1, xid=1, chaddr=bytes(range(6)) + bytes(10), options=options))


def with_options(body: bytes) -> bytes:
    return valid_discover()[:240] + body


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (valid_discover()[:239], "truncated"),
        (valid_discover()[:236] + b"\x63\x82\x53\x00" + valid_discover()[240:], "magic"),
        (with_options(bytes((53, 1, 1, 12, 10)) + b"abc"), "runs past"),
        (with_options(bytes((53, 1, 1, 12))), "no length"),
        (with_options(bytes((53, 0, 255))), "impossible length"),
        (with_options(bytes((53, 3, 1, 1, 1, 255))), "impossible length"),
        (with_options(bytes((53, 1, 1, 12, 0, 255))), "impossible length 0"),
        (with_options(bytes((53, 1, 1, 50, 3, 1, 2, 3, 255))), "impossible length"),
        (with_options(bytes((53, 1, 1, 93, 3, 0, 0, 7, 255))), "impossible length"),
        (with_options(bytes((53, 1, 1, 52, 1, 9, 255))), "overload"),
        (with_options(bytes((53, 1, 1, 97, 17, 1)) + bytes(16) + b"\xff"), "type 0"),
    ],
)
def test_malformed_packets_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        parse(data)


def test_hardware_address_longer_than_its_field_is_refused() -> None:
    data = bytearray(valid_discover())
    data[2] = 17
    with pytest.raises(DecodeError, match="hardware address length"):
        parse(bytes(data))


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
def test_captured_firmware_packets(fixture: dict[str, str]) -> None:
    """Real DISCOVERs: scapy agrees with us, they survive a round trip byte
    for byte, and each firmware is recognised with its SMBIOS UUID."""
    data = bytes.fromhex(fixture["hex"])
    assert data[236:240] == MAGIC
    packet = parse(data)
    assert our_view(packet) == scapy_view(data)
    assert parse(build(packet, packet.max_datagram)) == packet
    if len(data) >= 300 and data.rstrip(b"\0").endswith(b"\xff"):
        assert build(packet, packet.max_datagram) == data.ljust(300, b"\0")[: len(data)]
    client = classify(packet)
    expected = {
        "seabios-ipxe": (Firmware.IPXE, 0),
        "ovmf-pxe": (Firmware.UEFI_X86, 7),
        "ovmf-http": (Firmware.UEFI_HTTP, 16),
    }[fixture["name"]]
    assert (client.firmware, client.arch) == expected
    assert client.uuid == QEMU_UUID == fixture["uuid"]


def test_overload_option_inside_file_is_ignored() -> None:
    """Found by atheris: option 52 only counts in the options field; one
    inside `file` must not survive into the parsed options."""
    wire = bytearray(valid_discover())
    wire[240:] = bytes((53, 1, 1, 52, 1, 1, 255))
    wire[108:236] = (bytes((52, 1, 3, 12, 1)) + b"x" + b"\xff").ljust(128, b"\0")
    packet = parse(bytes(wire))
    assert packet.options == {53: b"\x01", 12: b"x"}
    assert parse(build(packet)) == packet


def test_suboptions_of_real_ipxe() -> None:
    """Option 175 as QEMU's iPXE ROM sent it: iPXE's feature flags, among
    them 19 (HTTP) and 16 (PXE extensions)."""
    seabios = next(f for f in FIXTURES if f["name"] == "seabios-ipxe")
    found = opt.decode_suboptions(parse(bytes.fromhex(seabios["hex"])).options[175])
    assert found[19] == b"\x01" and found[16] == b"\x02"
    assert opt.decode_suboptions(opt.encode_suboptions(found)) == found


@pytest.mark.parametrize("data", [b"\x06", b"\x06\x05\x01", b"\x06\x01\x08\x07"])
def test_suboptions_running_past_the_end(data: bytes) -> None:
    with pytest.raises(opt.SubOptionError):
        opt.decode_suboptions(data)
