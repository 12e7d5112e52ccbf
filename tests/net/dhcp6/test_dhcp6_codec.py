"""The DHCPv6 codec against an independent one: scapy builds what UEFI
PXEv6 and HTTP Boot firmware send, bootsvc reads it; bootsvc builds what a
boot server answers, scapy reads it. Malformed input raises DecodeError and
nothing else."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp6 import (
    DHCP6,
    DUID_LL,
    DUID_LLT,
    USER_CLASS_DATA,
    VENDOR_CLASS_DATA,
    DHCP6_Advertise,
    DHCP6_Confirm,
    DHCP6_Decline,
    DHCP6_InfoRequest,
    DHCP6_Rebind,
    DHCP6_RelayForward,
    DHCP6_RelayReply,
    DHCP6_Release,
    DHCP6_Renew,
    DHCP6_Reply,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptBootFileUrl,
    DHCP6OptClientArchType,
    DHCP6OptClientId,
    DHCP6OptClientNetworkInterId,
    DHCP6OptElapsedTime,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptIfaceId,
    DHCP6OptOptReq,
    DHCP6OptRapidCommit,
    DHCP6OptRelayMsg,
    DHCP6OptServerId,
    DHCP6OptUserClass,
    DHCP6OptVendorClass,
)

from bootsvc.net.dhcp6 import codec
from bootsvc.net.dhcp6 import options as opt
from bootsvc.net.dhcp6.codec import (
    DecodeError,
    IaAddress,
    IdentityAssociation,
    Message,
    RelayMessage,
)

MAC = "52:54:00:12:34:56"
PXE_CLASS = b"PXEClient:Arch:00007:UNDI:003016"
HTTP_CLASS = b"HTTPClient:Arch:00016:UNDI:003001"


def _firmware_solicit(vendor_class: bytes, arch: int) -> bytes:
    """A SOLICIT as OVMF's network stack sends it, built by scapy."""
    return bytes(
        DHCP6_Solicit(trid=0x5A1B2C)
        / DHCP6OptElapsedTime(elapsedtime=0)
        / DHCP6OptClientId(duid=DUID_LLT(lladdr=MAC, timeval=0x2A))
        / DHCP6OptIA_NA(iaid=0x00123456)
        / DHCP6OptOptReq(reqopts=[opt.BOOTFILE_URL, opt.BOOTFILE_PARAM, opt.DNS_SERVERS])
        / DHCP6OptVendorClass(enterprisenum=343, vcdata=[VENDOR_CLASS_DATA(data=vendor_class)])
        / DHCP6OptClientArchType(archtypes=[arch])
        / DHCP6OptClientNetworkInterId(iitype=1, iimajor=3, iiminor=16)
    )


@pytest.mark.parametrize(("vendor_class", "arch"), [(PXE_CLASS, 7), (HTTP_CLASS, 16)])
def test_reads_a_firmware_solicit(vendor_class: bytes, arch: int) -> None:
    message = codec.parse(_firmware_solicit(vendor_class, arch))
    assert isinstance(message, Message)
    assert (message.kind, message.transaction_id) == (opt.MessageType.SOLICIT, 0x5A1B2C)
    assert message.client_duid is not None
    assert opt.duid_link_address(message.client_duid) == MAC
    asked = message.option(opt.OPTION_REQUEST)
    assert asked is not None and opt.u16_list(asked) == [59, 60, 23]
    vendor = message.option(opt.VENDOR_CLASS)
    assert vendor is not None and opt.vendor_class(vendor) == (343, [vendor_class])
    archs = message.option(opt.CLIENT_ARCH)
    assert archs is not None and opt.u16_list(archs) == [arch]
    assert message.option(opt.CLIENT_NDI) == b"\x01\x03\x10"
    ia_value = message.option(opt.IA_NA)
    assert ia_value is not None
    assert codec.identity_association(ia_value) == IdentityAssociation(0x123456)


def test_scapy_reads_a_boot_servers_advertise() -> None:
    address = IaAddress("fd00:77::100", 3000, 3600)
    ia = IdentityAssociation(
        0x123456, 1800, 2880, [(opt.IA_ADDRESS, codec.pack_ia_address(address))]
    )
    url = b"tftp://[fd00:77::1]/snponly.efi"
    advertise = Message(
        opt.MessageType.ADVERTISE,
        0x5A1B2C,
        [
            (opt.SERVER_ID, opt.duid_ll("02:00:00:00:00:01")),
            (opt.CLIENT_ID, bytes(DUID_LLT(lladdr=MAC, timeval=0x2A))),
            (opt.IA_NA, codec.pack_identity_association(ia)),
            (opt.DNS_SERVERS, opt.pack_addresses(["fd00:77::1"])),
            (opt.BOOTFILE_URL, url),
        ],
    )
    seen = DHCP6_Advertise(codec.build(advertise))
    assert seen.trid == 0x5A1B2C
    assert seen[DHCP6OptServerId].duid.lladdr == "02:00:00:00:00:01"
    assert seen[DHCP6OptClientId].duid.lladdr == MAC
    assert (seen[DHCP6OptIA_NA].iaid, seen[DHCP6OptIA_NA].T1, seen[DHCP6OptIA_NA].T2) == (
        0x123456,
        1800,
        2880,
    )
    given_address = seen[DHCP6OptIAAddress]
    assert (given_address.addr, given_address.preflft, given_address.validlft) == (
        "fd00:77::100",
        3000,
        3600,
    )
    assert seen[DHCP6OptBootFileUrl].optdata == url


def test_a_relayed_solicit_is_read_through_its_relay() -> None:
    inner = _firmware_solicit(PXE_CLASS, 7)
    forwarded = bytes(
        DHCP6_RelayForward(hopcount=1, linkaddr="fd00:77::2", peeraddr="fe80::5054:ff:fe12:3456")
        / DHCP6OptRelayMsg(message=DHCP6(inner))
    )
    relay = codec.parse(forwarded)
    assert isinstance(relay, RelayMessage)
    assert (relay.hop_count, relay.link_address) == (1, "fd00:77::2")
    assert relay.peer_address == "fe80::5054:ff:fe12:3456"
    assert codec.build(relay) == forwarded
    relayed = relay.relayed()
    assert isinstance(relayed, Message) and relayed.transaction_id == 0x5A1B2C


def test_status_and_server_duid_read_back_in_scapy() -> None:
    reply = Message(
        opt.MessageType.REPLY,
        7,
        [
            (opt.SERVER_ID, opt.duid_ll("02:00:00:00:00:01")),
            (opt.STATUS_CODE, opt.status(opt.Status.NO_ADDRS_AVAIL, "pool exhausted")),
        ],
    )
    seen = DHCP6_Reply(codec.build(reply))
    assert seen.statuscode == opt.Status.NO_ADDRS_AVAIL
    assert seen.statusmsg == b"pool exhausted"
    assert isinstance(seen[DHCP6OptServerId].duid, DUID_LL)


_option = st.tuples(st.integers(100, 0xFFFF), st.binary(max_size=64))


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from([1, 3, 5, 7, 11]),
    transaction_id=st.integers(0, (1 << 24) - 1),
    options=st.lists(_option, max_size=8),
)
def test_any_message_of_unknown_options_reads_back_the_same(
    kind: int, transaction_id: int, options: list[tuple[int, bytes]]
) -> None:
    message = Message(kind, transaction_id, options)
    wire = codec.build(message)
    assert codec.parse(wire) == message
    # scapy agrees on where each option starts and ends.
    seen = DHCP6(wire)
    assert bytes(seen) == wire


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"\x01\x00\x00", "truncated"),
        (b"\x01\x00\x00\x01\x00\x08\x00", "cut short"),
        (b"\x01\x00\x00\x01\x00\x08\x00\x05\x00", "runs past the end"),
        (b"\x01\x00\x00\x01\x00\x08\x00\x01\x00", "impossible length"),
        (b"\x01\x00\x00\x01\x00\x0e\x00\x01\x00", "impossible length"),
        (
            b"\x01\x00\x00\x01\x00\x03\x00\x14" + bytes(12) + b"\x00\x05\x00\x04" + bytes(4),
            "impossible length",
        ),
        (b"\x01\x00\x00\x01\x00\x10\x00\x06\x00\x00\x01\x57\x00\x09", "vendor class"),
        (b"\x01\x00\x00\x01\x00\x0f\x00\x04\x00\x05ab", "user class"),
        (b"\x0c\x00" + bytes(20), "truncated relay"),
        (b"\x0c\x00" + bytes(32), "without option 9"),
    ],
)
def test_malformed_messages_are_refused(wire: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        message = codec.parse(wire)
        assert isinstance(message, RelayMessage)
        message.relayed()


def test_a_relay_chain_deeper_than_relays_build_is_refused() -> None:
    wire = codec.build(Message(opt.MessageType.SOLICIT, 1))
    for _ in range(codec.HOP_COUNT_LIMIT + 1):
        wire = codec.build(
            RelayMessage(opt.MessageType.RELAY_FORWARD, 0, "::", "::", [(opt.RELAY_MESSAGE, wire)])
        )
    with pytest.raises(DecodeError, match="nested"):
        codec.parse(wire)


def test_a_hundred_thousand_mutated_packets_raise_only_decode_errors() -> None:
    """Bit flips, cuts and splices of real firmware messages: a server that
    parses them either gets a message or a DecodeError, never a crash."""
    seeds = [_firmware_solicit(PXE_CLASS, 7), _firmware_solicit(HTTP_CLASS, 16)]
    seeds.append(bytes(DHCP6_RelayForward() / DHCP6OptRelayMsg(message=DHCP6(seeds[0]))))
    rng = random.Random(6)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(100_000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            action = rng.randrange(4)
            if action == 0 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif action == 1:
                del data[rng.randrange(len(data) + 1) :]
            elif action == 2 and len(data) > 6:
                at = rng.randrange(4, len(data) - 1)
                data[at : at + 2] = struct.pack(
                    "!H", rng.choice((0, 1, 0xFFFF, rng.randrange(65536)))
                )
            else:
                data += rng.randbytes(rng.randrange(8))
        try:
            codec.parse(bytes(data))
        except DecodeError:
            outcomes["refused"] += 1
        else:
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 1000 and outcomes["refused"] > 1000, outcomes


def _identified(message: DHCP6) -> bytes:
    return bytes(
        message
        / DHCP6OptClientId(duid=DUID_LL(lladdr=MAC))
        / DHCP6OptServerId(duid=DUID_LL(lladdr="02:00:00:00:00:01"))
        / DHCP6OptIA_NA(iaid=9, ianaopts=[DHCP6OptIAAddress(addr="fd00:77::150")])
    )


@pytest.mark.parametrize(
    ("wire", "kind"),
    [
        (_identified(DHCP6_Request(trid=1)), opt.MessageType.REQUEST),
        (_identified(DHCP6_Confirm(trid=1)), opt.MessageType.CONFIRM),
        (_identified(DHCP6_Renew(trid=1)), opt.MessageType.RENEW),
        (_identified(DHCP6_Rebind(trid=1)), opt.MessageType.REBIND),
        (_identified(DHCP6_Release(trid=1)), opt.MessageType.RELEASE),
        (_identified(DHCP6_Decline(trid=1)), opt.MessageType.DECLINE),
        (
            bytes(DHCP6_InfoRequest(trid=1) / DHCP6OptElapsedTime()),
            opt.MessageType.INFORMATION_REQUEST,
        ),
    ],
)
def test_reads_each_client_message_scapy_builds(wire: bytes, kind: int) -> None:
    message = codec.parse(wire)
    assert isinstance(message, Message)
    assert (message.kind, message.transaction_id) == (kind, 1)
    assert codec.build(message) == wire
    ia_value = message.option(opt.IA_NA)
    if kind != opt.MessageType.INFORMATION_REQUEST:
        assert ia_value is not None
        ia = codec.identity_association(ia_value)
        assert ia.iaid == 9 and [a.address for a in ia.addresses] == ["fd00:77::150"]


def test_reads_user_class_and_boot_file_parameters() -> None:
    """scapy 2.8 has no layer for option 60: it is written by hand, in the
    shape RFC 5970 gives it (16-bit length, then the parameter)."""
    classes = [USER_CLASS_DATA(data=b"iPXE"), USER_CLASS_DATA(data=b"x")]
    parameter = b"\x00\x0dconsole=ttyS0"
    wire = (
        bytes(
            DHCP6_Solicit(trid=2)
            / DHCP6OptClientId(duid=DUID_LL(lladdr=MAC))
            / DHCP6OptUserClass(userclassdata=classes)
            / DHCP6OptRapidCommit()
        )
        + struct.pack("!HH", opt.BOOTFILE_PARAM, len(parameter))
        + parameter
    )
    message = codec.parse(wire)
    assert isinstance(message, Message)
    user = message.option(opt.USER_CLASS)
    assert user is not None and opt.class_items(user) == [b"iPXE", b"x"]
    params = message.option(opt.BOOTFILE_PARAM)
    assert params is not None and opt.class_items(params) == [b"console=ttyS0"]
    assert message.option(opt.RAPID_COMMIT) == b""


def test_scapy_reads_a_relay_reply_bootsvc_builds() -> None:
    inner = Message(opt.MessageType.ADVERTISE, 3, [(opt.BOOTFILE_URL, b"http://[fd00::1]/x")])
    relay = RelayMessage(
        opt.MessageType.RELAY_REPLY,
        1,
        "fd00:77::2",
        "fe80::1",
        [(opt.INTERFACE_ID, b"port-7"), (opt.RELAY_MESSAGE, codec.build(inner))],
    )
    seen = DHCP6_RelayReply(codec.build(relay))
    assert (seen.hopcount, seen.linkaddr, seen.peeraddr) == (1, "fd00:77::2", "fe80::1")
    assert seen[DHCP6OptIfaceId].ifaceid == b"port-7"
    assert seen[DHCP6OptBootFileUrl].optdata == b"http://[fd00::1]/x"


@pytest.mark.parametrize(
    ("address", "mac"),
    [
        ("fe80::5054:ff:fe12:3456", "52:54:00:12:34:56"),
        ("fe80::5054:ff:fe12:3456%br0", "52:54:00:12:34:56"),
        ("fe80::200:ff:fe00:1", "00:00:00:00:00:01"),
        # Not link-local, no ff:fe in the middle, not an address at all.
        ("fd00:77::5054:ff:fe12:3456", None),
        ("fe80::1234:5678:9abc:def0", None),
        ("", None),
    ],
)
def test_the_mac_in_a_link_local_eui64(address: str, mac: str | None) -> None:
    assert opt.eui64_mac(address) == mac
