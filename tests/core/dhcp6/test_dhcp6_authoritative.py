"""Authoritative DHCPv6 decisions on a test database: reservations from the
CMDB (an IPv6 interface address, found by the MAC in a DUID or by the node
fact dhcp6_duid), addresses from the range for everyone else and never a
reserved one, the range running out, release, decline and confirm, and the
Secure Boot path a node's facts choose."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dhcp6 import (
    DUID_LL,
    DUID_UUID,
    DHCP6_Confirm,
    DHCP6_Decline,
    DHCP6_Release,
    DHCP6_Request,
    DHCP6OptClientId,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptServerId,
)

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import InterfaceRecord, NodeRecord
from bootsvc.core.dhcp.loaders import Loaders
from bootsvc.core.dhcp6 import leases
from bootsvc.core.dhcp6.authoritative import AuthoritativeResponder6
from bootsvc.core.dhcp6.book import Dhcp6Book
from bootsvc.core.dhcp6.reservations import Reservations6
from bootsvc.net.dhcp.responder import Silence
from bootsvc.net.dhcp6 import codec
from bootsvc.net.dhcp6 import options as opt
from bootsvc.net.dhcp6.classify import classify
from bootsvc.net.dhcp6.codec import Message
from bootsvc.net.dhcp6.options import MessageType, Status
from bootsvc.net.dhcp6.responder import Dhcp6Reply, Dhcp6Request
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND, DECLINED, RELEASED
from tests.net.dhcp6.test_dhcp6_server import PXE, solicit
from tests.support.clock import Clock
from tests.support.dhcpstack import wait_for

SERVER = "fd00:77::1"
SERVER_DUID = DUID_LL(lladdr="02:00:00:00:00:01")
UUID_DUID = DUID_UUID(uuid="12345678-1234-5678-1234-567812345678")


class Stack6:
    def __init__(self, db: Database, data_dir: Path, **extra: Any) -> None:
        self.db = db
        self.settings = Settings(
            data_dir=data_dir,
            database_url=db.url,
            advertise_url="http://10.77.0.1:8080",
            dhcp6_mode=DhcpMode.AUTHORITATIVE,
            dhcp6_interface="srv0",
            dhcp6_subnet="fd00:77::/64",
            dhcp6_range=extra.pop("dhcp6_range", "fd00:77::100-fd00:77::103"),
            dhcp_lease_seconds=600,
            **extra,
        )
        self.clock = Clock()
        self.book = Dhcp6Book(db, 30, 300, self.clock, server="test")
        self.reservations = Reservations6(db, self.settings.secure_boot)
        self.responder = AuthoritativeResponder6(
            self.book, self.reservations, self.settings, Loaders.from_settings(self.settings)
        )

    def refresh(self) -> None:
        self.reservations.refresh()

    def request(self, wire: Any, peer: str = "fe80::1") -> Dhcp6Request:
        """`peer`: the client's link-local source address."""
        message = codec.parse(bytes(wire))
        assert isinstance(message, Message)
        return Dhcp6Request(
            message,
            MessageType(message.kind),
            classify(message),
            SERVER,
            SERVER,
            (peer, 546),
            peer,
        )

    def ask(self, wire: Any, peer: str = "fe80::1") -> Dhcp6Reply | Silence:
        request = self.request(wire, peer)

        def start(respond: Callable[[Dhcp6Reply | Silence], None]) -> None:
            self.responder.answer(request, respond)

        return wait_for(start)


@pytest.fixture
def stack6(db: Database, data_dir: Path) -> Iterator[Stack6]:
    built = Stack6(db, data_dir)
    yield built
    built.book.stop()


def add_node(db: Database, hostname: str, interfaces: list[InterfaceRecord], **facts: Any) -> None:
    with db.write() as session:
        record = NodeRecord(hostname=hostname, interfaces=interfaces, facts=facts)
        cmdb.upsert_node(session, record, "test")


def addresses(reply: Dhcp6Reply | Silence) -> list[str]:
    assert isinstance(reply, Dhcp6Reply), reply
    found = []
    for code, value in reply.options:
        if code == opt.IA_NA:
            found += [item.address for item in codec.identity_association(value).addresses]
    return found


def ia_status(reply: Dhcp6Reply | Silence) -> int | None:
    assert isinstance(reply, Dhcp6Reply), reply
    value = reply.option(opt.IA_NA)
    assert value is not None
    inner = codec.first(codec.identity_association(value).options, opt.STATUS_CODE)
    return None if inner is None else int.from_bytes(inner[:2], "big")


def request(mac: str, address: str, trid: int = 9) -> Any:
    return (
        DHCP6_Request(trid=trid)
        / DHCP6OptClientId(duid=DUID_LL(lladdr=mac))
        / DHCP6OptServerId(duid=SERVER_DUID)
        / DHCP6OptIA_NA(iaid=7, ianaopts=[DHCP6OptIAAddress(addr=address)])
    )


def test_a_node_gets_its_interface_address_by_the_mac_in_its_duid(
    stack6: Stack6, db: Database
) -> None:
    add_node(db, "hv1", [InterfaceRecord(mac="52:54:00:00:00:01", ip="fd00:77::11")])
    stack6.refresh()
    advertise = stack6.ask(solicit(1, 7, PXE, mac="52:54:00:00:00:01"))
    assert addresses(advertise) == ["fd00:77::11"]
    reply = stack6.ask(request("52:54:00:00:00:01", "fd00:77::11"))
    assert addresses(reply) == ["fd00:77::11"]
    with db.read() as session:
        (lease,) = leases.rows(session)
    assert (lease.address, lease.mac, lease.state, lease.hostname) == (
        "fd00:77::11",
        "52:54:00:00:00:01",
        BOUND,
        "hv1",
    )


def test_a_dual_stack_node_gets_its_ipv6_address_for_its_ipv4_interface(
    stack6: Stack6, db: Database
) -> None:
    """The boot NIC is registered with its IPv4 address; the node's IPv6
    address is on another interface record of the same node."""
    add_node(
        db,
        "hv2",
        [
            InterfaceRecord(name="eth0", mac="52:54:00:00:00:02", ip="10.77.0.12"),
            InterfaceRecord(name="eth1", mac="52:54:00:00:01:02", ip="fd00:77::12"),
        ],
    )
    stack6.refresh()
    assert addresses(stack6.ask(solicit(2, 7, PXE, mac="52:54:00:00:00:02"))) == ["fd00:77::12"]


def test_a_duid_fact_finds_a_node_whose_duid_has_no_mac(stack6: Stack6, db: Database) -> None:
    duid = bytes(UUID_DUID).hex(":")
    add_node(
        db,
        "hv3",
        [InterfaceRecord(mac="52:54:00:00:00:03", ip="fd00:77::13")],
        dhcp6_duid=duid,
        secure_boot=True,
    )
    stack6.refresh()
    message = solicit(3, 7, PXE)
    message[DHCP6OptClientId].duid = UUID_DUID
    reply = stack6.ask(message)
    assert addresses(reply) == ["fd00:77::13"]
    # The node's facts put it on the Secure Boot path: the signed shim.
    assert isinstance(reply, Dhcp6Reply)
    assert reply.option(opt.BOOTFILE_URL) == b"tftp://[fd00:77::1]/shimx64.efi"


def test_strangers_share_the_range_and_never_get_a_reserved_address(
    db: Database, data_dir: Path
) -> None:
    stack6 = Stack6(db, data_dir, dhcp6_range="fd00:77::100-fd00:77::102")
    try:
        add_node(db, "hv4", [InterfaceRecord(mac="52:54:00:00:00:04", ip="fd00:77::101")])
        stack6.refresh()
        given = set()
        for index in range(2):
            mac = f"02:00:00:00:00:{index:02x}"
            (address,) = addresses(stack6.ask(solicit(10 + index, 7, PXE, mac=mac)))
            given.add(address)
        assert given == {"fd00:77::100", "fd00:77::102"}
        # The range is used up: the next stranger's IA says so.
        exhausted = stack6.ask(solicit(20, 7, PXE, mac="02:00:00:00:00:09"))
        assert addresses(exhausted) == []
        assert ia_status(exhausted) == Status.NO_ADDRS_AVAIL
        # Offers lapse; the address is free again for the next client.
        stack6.clock.advance(31)
        assert addresses(stack6.ask(solicit(21, 7, PXE, mac="02:00:00:00:00:09"))) != []
    finally:
        stack6.book.stop()


def test_release_and_decline_end_the_lease(stack6: Stack6, db: Database) -> None:
    mac = "02:00:00:00:00:21"
    (offered,) = addresses(stack6.ask(solicit(30, 7, PXE, mac=mac)))
    assert addresses(stack6.ask(request(mac, offered, 31))) == [offered]
    ia = DHCP6OptIA_NA(iaid=7, ianaopts=[DHCP6OptIAAddress(addr=offered)])
    client_id = DHCP6OptClientId(duid=DUID_LL(lladdr=mac))
    released = stack6.ask(
        DHCP6_Release(trid=32) / client_id / DHCP6OptServerId(duid=SERVER_DUID) / ia
    )
    assert isinstance(released, Dhcp6Reply)
    assert released.option(opt.STATUS_CODE) == opt.status(Status.SUCCESS, "released")
    with db.read() as session:
        assert [row.state for row in leases.rows(session)] == [RELEASED]
    assert addresses(stack6.ask(request(mac, offered, 33))) == [offered]
    stack6.ask(DHCP6_Decline(trid=34) / client_id / DHCP6OptServerId(duid=SERVER_DUID) / ia)
    with db.read() as session:
        (row,) = leases.rows(session)
    assert row.state == DECLINED and row.expires == pytest.approx(stack6.clock.now + 300)
    # A declined address goes to nobody until its quarantine ends.
    assert offered not in addresses(stack6.ask(solicit(35, 7, PXE, mac=mac)))


def test_confirm_says_whether_the_addresses_are_on_link(stack6: Stack6) -> None:
    client_id = DHCP6OptClientId(duid=DUID_LL(lladdr="02:00:00:00:00:31"))

    def confirm(address: str) -> bytes | None:
        ia = DHCP6OptIA_NA(iaid=7, ianaopts=[DHCP6OptIAAddress(addr=address)])
        reply = stack6.ask(DHCP6_Confirm(trid=40) / client_id / ia)
        assert isinstance(reply, Dhcp6Reply)
        return reply.option(opt.STATUS_CODE)

    assert confirm("fd00:77::100") == opt.status(Status.SUCCESS, "on link")
    assert confirm("fd00:99::100") == opt.status(Status.NOT_ON_LINK, "not on fd00:77::/64")


# iPXE in QEMU sends a DUID-UUID of the SMBIOS UUID, all zeros there: no MAC.
ZERO_UUID_DUID = DUID_UUID(uuid="00000000-0000-0000-0000-000000000000")
# The link-local address of 52:54:00:00:00:15 (EUI-64: U/L bit flipped, ff:fe).
LINK_LOCAL_15 = "fe80::5054:ff:fe00:15"


def _as(message: Any, duid: Any, iaid: int) -> Any:
    message[DHCP6OptClientId].duid = duid
    message[DHCP6OptIA_NA].iaid = iaid
    return message


def test_a_node_is_found_by_the_eui64_of_its_link_local_address(
    stack6: Stack6, db: Database
) -> None:
    add_node(db, "hv5", [InterfaceRecord(mac="52:54:00:00:00:15", ip="fd00:77::15")])
    stack6.refresh()
    wire = _as(solicit(5, 7, PXE), ZERO_UUID_DUID, 1)
    assert stack6.request(wire, LINK_LOCAL_15 + "%br0").mac == "52:54:00:00:00:15"
    assert addresses(stack6.ask(wire, LINK_LOCAL_15)) == ["fd00:77::15"]
    # Not an EUI-64 (no ff:fe in the middle): nobody's, an address of the range.
    other = _as(solicit(6, 7, PXE), ZERO_UUID_DUID, 2)
    assert stack6.request(other, "fe80::1234:5678:9abc:def0").mac is None
    (stranger,) = addresses(stack6.ask(other, "fe80::1234:5678:9abc:def0"))
    assert stranger in stack6.responder.pool


def _bind(stack6: Stack6, duid: Any, iaid: int, address: str, peer: str) -> list[str]:
    message = (
        DHCP6_Request(trid=iaid)
        / DHCP6OptClientId(duid=duid)
        / DHCP6OptServerId(duid=SERVER_DUID)
        / DHCP6OptIA_NA(iaid=iaid, ianaopts=[DHCP6OptIAAddress(addr=address)])
    )
    return addresses(stack6.ask(message, peer))


def test_the_node_address_moves_between_its_own_clients(stack6: Stack6, db: Database) -> None:
    """OVMF's PXE binds the node's address with one IAID; the iPXE it loads
    asks again with another DUID and IAID, and gets the same address, not
    "held by another client"; the lease is then iPXE's."""
    mac = "52:54:00:00:00:15"
    add_node(db, "hv6", [InterfaceRecord(mac=mac, ip="fd00:77::15")])
    stack6.refresh()
    assert _bind(stack6, ZERO_UUID_DUID, 1, "fd00:77::15", LINK_LOCAL_15) == ["fd00:77::15"]
    ipxe = DUID_LL(lladdr=mac)
    advertise = stack6.ask(_as(solicit(6, 7, PXE, ipxe=True), ipxe, 0x2B), LINK_LOCAL_15)
    assert addresses(advertise) == ["fd00:77::15"]
    assert _bind(stack6, ipxe, 0x2B, "fd00:77::15", LINK_LOCAL_15) == ["fd00:77::15"]
    with db.read() as session:
        (lease,) = leases.rows(session)
    assert (lease.duid, lease.iaid, lease.state, lease.hostname, lease.mac) == (
        bytes(ipxe).hex(),
        0x2B,
        BOUND,
        "hv6",
        mac,
    )


def test_another_node_cannot_take_a_bound_address(stack6: Stack6, db: Database) -> None:
    """Only the node's own clients move its address: a lease of the range
    stays with the node holding it, in memory and in the database."""
    add_node(db, "hv7", [InterfaceRecord(mac="52:54:00:00:00:17")])
    add_node(db, "hv8", [InterfaceRecord(mac="52:54:00:00:00:18")])
    stack6.refresh()
    first = DUID_LL(lladdr="52:54:00:00:00:17")
    (address,) = _bind(stack6, first, 1, "fd00:77::100", "fe80::5054:ff:fe00:17")
    assert address == "fd00:77::100"
    second = DUID_LL(lladdr="52:54:00:00:00:18")
    assert _bind(stack6, second, 1, address, "fe80::5054:ff:fe00:18") != [address]
    with db.write() as session:
        taken = leases.Lease6(
            address, bytes(second).hex(), 1, None, "fd00:77::/64", BOUND, 1e12, 0.0, "hv8"
        )
        (row,) = leases.claim(session, [taken], stack6.clock(), "other-server")
    assert row.hostname == "hv7"
