"""The DHCPv6 server in a network namespace, spoken to with messages scapy
builds as UEFI PXEv6, UEFI HTTP Boot and iPXE send them, and read back with
scapy: the boot file URL each firmware gets (with this server's IPv6 address
in it), the four-message exchange that binds a lease in the database, relayed
messages, proxy mode, and a malformed packet dropped with one log line."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.dhcp6 import (
    DHCP6,
    DUID_LL,
    USER_CLASS_DATA,
    VENDOR_CLASS_DATA,
    DHCP6_Advertise,
    DHCP6_RelayForward,
    DHCP6_RelayReply,
    DHCP6_Reply,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptBootFileUrl,
    DHCP6OptClientArchType,
    DHCP6OptClientId,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptIfaceId,
    DHCP6OptRapidCommit,
    DHCP6OptRelayMsg,
    DHCP6OptServerId,
    DHCP6OptStatusCode,
    DHCP6OptUserClass,
    DHCP6OptVendorClass,
)

from bootsvc.core.dhcp6 import leases
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND
from tests.support.dhcp6stack import (
    LAB6_SETTINGS,
    RANGE,
    SERVER_PORT,
    Lab6,
    client_socket,
    exchange,
    running_service6,
    servers_group,
)

pytestmark = pytest.mark.netns

MAC = "52:54:00:12:34:56"
PXE = b"PXEClient:Arch:00007:UNDI:003016"
HTTP = b"HTTPClient:Arch:00016:UNDI:003001"
TFTP_URL = b"tftp://[fd00:77::1]/snponly.efi"
HTTP_URL = b"http://[fd00:77::1]:8080/ipxe/snponly.efi"
IPXE_URL = b"http://[fd00:77::1]:8080/boot.ipxe"


def solicit(
    trid: int,
    arch: int | None,
    vendor: bytes | None = None,
    ipxe: bool = False,
    mac: str = MAC,
) -> DHCP6:
    message = DHCP6_Solicit(trid=trid) / DHCP6OptClientId(duid=DUID_LL(lladdr=mac))
    message /= DHCP6OptIA_NA(iaid=7)
    if vendor is not None:
        message /= DHCP6OptVendorClass(enterprisenum=343, vcdata=[VENDOR_CLASS_DATA(data=vendor)])
    if arch is not None:
        message /= DHCP6OptClientArchType(archtypes=[arch])
    if ipxe:
        message /= DHCP6OptUserClass(userclassdata=[USER_CLASS_DATA(data=b"iPXE")])
    return message


def _lab(db: Database, data_dir: Path, mode: DhcpMode) -> Iterator[Lab6]:
    settings = Settings(data_dir=data_dir, database_url=db.url, dhcp6_mode=mode, **LAB6_SETTINGS)
    with running_service6(settings, db) as lab:
        yield lab


@pytest.fixture
def lab6(db: Database, data_dir: Path) -> Iterator[Lab6]:
    yield from _lab(db, data_dir, DhcpMode.AUTHORITATIVE)


@pytest.fixture
def proxy6(db: Database, data_dir: Path) -> Iterator[Lab6]:
    yield from _lab(db, data_dir, DhcpMode.PROXY)


@pytest.fixture
def client(lab6: Lab6) -> Iterator[socket.socket]:
    sock = lab6.client.call(client_socket)
    yield sock
    sock.close()


FIRMWARE = [
    pytest.param(7, PXE, False, TFTP_URL, False, id="uefi-pxe6-arch7"),
    pytest.param(9, b"PXEClient:Arch:00009:UNDI:003016", False, TFTP_URL, False, id="arch9"),
    pytest.param(16, HTTP, False, HTTP_URL, True, id="uefi-http6"),
    pytest.param(7, PXE, True, IPXE_URL, False, id="ipxe"),
]


@pytest.mark.parametrize(("arch", "vendor", "ipxe", "url", "http_client"), FIRMWARE)
def test_each_firmware_gets_its_boot_file_url(
    lab6: Lab6,
    client: socket.socket,
    arch: int,
    vendor: bytes,
    ipxe: bool,
    url: bytes,
    http_client: bool,
) -> None:
    reply = DHCP6_Advertise(exchange(client, bytes(solicit(0x10, arch, vendor, ipxe)), 0x10))
    assert reply[DHCP6OptBootFileUrl].optdata == url
    assert reply[DHCP6OptClientId].duid.lladdr == MAC
    first, last = (ipaddress.IPv6Address(a) for a in RANGE.split("-"))
    assert first <= ipaddress.IPv6Address(reply[DHCP6OptIAAddress].addr) <= last
    if http_client:
        # edk2 ignores an HTTP Boot offer that does not say "HTTPClient".
        assert reply[DHCP6OptVendorClass].vcdata[0].data == b"HTTPClient"
    else:
        assert DHCP6OptVendorClass not in reply


def test_an_os_client_gets_an_address_and_no_boot_file(lab6: Lab6, client: socket.socket) -> None:
    reply = DHCP6_Advertise(exchange(client, bytes(solicit(0x11, None)), 0x11))
    assert DHCP6OptIAAddress in reply
    assert DHCP6OptBootFileUrl not in reply


def test_solicit_request_reply_binds_a_lease(
    lab6: Lab6, client: socket.socket, db: Database
) -> None:
    advertise = DHCP6_Advertise(exchange(client, bytes(solicit(0x20, 7, PXE)), 0x20))
    address = advertise[DHCP6OptIAAddress].addr
    request = (
        DHCP6_Request(trid=0x21)
        / DHCP6OptClientId(duid=DUID_LL(lladdr=MAC))
        / DHCP6OptServerId(duid=advertise[DHCP6OptServerId].duid)
        / DHCP6OptIA_NA(iaid=7, ianaopts=[DHCP6OptIAAddress(addr=address)])
        / DHCP6OptClientArchType(archtypes=[7])
    )
    reply = DHCP6_Reply(exchange(client, bytes(request), 0x21))
    assert reply[DHCP6OptIAAddress].addr == address
    assert reply[DHCP6OptIAAddress].validlft == 3600
    assert reply[DHCP6OptBootFileUrl].optdata == TFTP_URL
    with db.read() as session:
        (lease,) = leases.rows(session, addresses=[address])
    assert (lease.mac, lease.iaid, lease.state) == (MAC, 7, BOUND)
    assert lease.duid == bytes(DUID_LL(lladdr=MAC)).hex()
    line = lab6.log.wait("dhcp6.request", mac=MAC, reply="reply")
    assert line["ip"] == address and line["stage"] == "dhcp6"


def test_rapid_commit_binds_at_once(lab6: Lab6, client: socket.socket, db: Database) -> None:
    wire = bytes(solicit(0x30, 16, HTTP, mac="52:54:00:00:00:30") / DHCP6OptRapidCommit())
    reply = DHCP6_Reply(exchange(client, wire, 0x30))
    assert DHCP6OptRapidCommit in reply
    address = reply[DHCP6OptIAAddress].addr
    with db.read() as session:
        (lease,) = leases.rows(session, addresses=[address])
    assert lease.state == BOUND


def test_a_request_for_another_server_is_not_answered(lab6: Lab6, client: socket.socket) -> None:
    request = (
        DHCP6_Request(trid=0x40)
        / DHCP6OptClientId(duid=DUID_LL(lladdr=MAC))
        / DHCP6OptServerId(duid=DUID_LL(lladdr="02:00:00:00:00:99"))
        / DHCP6OptIA_NA(iaid=7)
    )
    client.sendto(bytes(request), servers_group(client))
    line = lab6.log.wait("dhcp6.request", mac=MAC)
    assert line["reply"] == "none" and line["reason"] == "client chose another server"


def test_a_relayed_solicit_is_answered_through_the_relay(lab6: Lab6) -> None:
    """A relay on the link sends from port 547 and gets a Relay-reply with
    the Advertise inside and its Interface-Id back."""

    def relay_socket() -> socket.socket:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"cli0")
        sock.bind(("::", SERVER_PORT, 0, socket.if_nametoindex("cli0")))
        sock.settimeout(3)
        return sock

    sock = lab6.client.call(relay_socket)
    try:
        forward = (
            DHCP6_RelayForward(hopcount=0, linkaddr="fd00:77::2", peeraddr="fe80::5054:ff:fe00:1")
            / DHCP6OptIfaceId(ifaceid=b"port-7")
            / DHCP6OptRelayMsg(message=solicit(0x50, 7, PXE))
        )
        sock.sendto(bytes(forward), servers_group(sock))
        reply = DHCP6_RelayReply(sock.recv(65535))
        assert (reply.linkaddr, reply.peeraddr) == ("fd00:77::2", "fe80::5054:ff:fe00:1")
        assert reply[DHCP6OptIfaceId].ifaceid == b"port-7"
        inner = reply[DHCP6OptRelayMsg].message
        assert isinstance(inner, DHCP6_Advertise) and inner.trid == 0x50
        assert inner[DHCP6OptBootFileUrl].optdata == TFTP_URL
    finally:
        sock.close()


def test_a_relayed_solicit_from_another_link_is_not_served(lab6: Lab6) -> None:
    sock = lab6.client.call(client_socket)
    try:
        forward = DHCP6_RelayForward(linkaddr="fd00:99::2", peeraddr="fe80::1") / DHCP6OptRelayMsg(
            message=solicit(0x51, 7, PXE)
        )
        sock.sendto(bytes(forward), servers_group(sock))
        line = lab6.log.wait("dhcp6.solicit", mac=MAC)
        assert line["reply"] == "none" and "fd00:99::2" in line["reason"]
    finally:
        sock.close()


def test_malformed_packets_are_dropped_with_one_line(lab6: Lab6, client: socket.socket) -> None:
    client.sendto(b"\x01\x00\x00\x01\x00\x08\x00", servers_group(client))
    client.sendto(bytes(DHCP6_Advertise(trid=9)), servers_group(client))
    lab6.log.wait("dhcp6.dropped", reason="an option header in the message is cut short")
    lab6.log.wait("dhcp6.dropped", reason="ADVERTISE is not a message a client sends")
    # Still answering.
    reply = DHCP6_Advertise(exchange(client, bytes(solicit(0x60, 7, PXE)), 0x60))
    assert reply.trid == 0x60
    assert lab6.service.server.stats["dropped"] == 2
    assert lab6.log.counts["dhcp6.dropped"] == 2


def test_proxy_answers_boot_information_without_addresses(proxy6: Lab6) -> None:
    sock = proxy6.client.call(client_socket)
    try:
        reply = DHCP6_Advertise(exchange(sock, bytes(solicit(0x70, 16, HTTP)), 0x70))
        assert reply[DHCP6OptBootFileUrl].optdata == HTTP_URL
        assert reply[DHCP6OptVendorClass].vcdata[0].data == b"HTTPClient"
        assert DHCP6OptIA_NA not in reply and DHCP6OptIAAddress not in reply
        # An operating system's client is the site server's alone.
        sock.sendto(bytes(solicit(0x71, None)), servers_group(sock))
        line = proxy6.log.wait("dhcp6.solicit", reason="not a network boot request")
        assert line["reply"] == "none"
        # A REQUEST naming the proxy gets the boot file in a REPLY, no address.
        request = (
            DHCP6_Request(trid=0x72)
            / DHCP6OptClientId(duid=DUID_LL(lladdr=MAC))
            / DHCP6OptServerId(duid=reply[DHCP6OptServerId].duid)
            / DHCP6OptClientArchType(archtypes=[7])
        )
        answer = DHCP6_Reply(exchange(sock, bytes(request), 0x72))
        assert answer[DHCP6OptBootFileUrl].optdata == TFTP_URL
        assert DHCP6OptIA_NA not in answer and DHCP6OptStatusCode not in answer
    finally:
        sock.close()
