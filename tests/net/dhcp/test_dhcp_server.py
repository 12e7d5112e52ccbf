"""The server on the wire: where replies go (RFC 2131 section 4.1), relayed
requests, the interface it is bound to, and packets it must drop."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import FLAG_BROADCAST, Packet, build, parse
from bootsvc.net.dhcp.options import MessageType
from bootsvc.store.db import Database
from tests.support.dhcpstack import Lab, add_cluster_network
from tests.support.nslab import broadcast_socket, veth

pytestmark = pytest.mark.netns

ETH_P_IP = 0x0800
RELAY_AGENT_INFO = bytes((1, 4)) + b"sw42"


def frame_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    sock.bind((interface, 0))
    sock.settimeout(3)
    return sock


@pytest.fixture
def client(dhcp_lab: Lab) -> Iterator[socket.socket]:
    sock = dhcp_lab.client.call(broadcast_socket, "cli0", 68)
    yield sock
    sock.close()


def discover(mac: bytes, flags: int = FLAG_BROADCAST) -> bytes:
    options = {opt.MESSAGE_TYPE: bytes((MessageType.DISCOVER,))}
    chaddr = mac.ljust(16, b"\0")
    return build(Packet(op=1, xid=0xABCD, chaddr=chaddr, flags=flags, options=options))


def dhcp_message(sock: socket.socket, xid: int = 0xABCD) -> Packet:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        packet = parse(sock.recv(4096))
        if packet.xid == xid:
            return packet
    raise AssertionError("no reply")


def mac_of(lab: Lab, interface: str) -> bytes:
    text = lab.client.ip("-br", "link", "show", interface).split()[2]
    return bytes.fromhex(text.replace(":", ""))


def test_broadcast_flag_and_unicast_to_the_new_address(
    dhcp_lab: Lab, client: socket.socket
) -> None:
    mac = mac_of(dhcp_lab, "cli0")
    client.sendto(discover(mac), ("255.255.255.255", 67))
    offer = dhcp_message(client)
    assert offer.message_type == MessageType.OFFER and offer.flags == FLAG_BROADCAST
    assert dhcp_lab.log.wait("dhcp.discover", reply="offer")["to"] == "255.255.255.255"
    # Without the broadcast flag the offer goes to yiaddr at the client's MAC.
    frames = dhcp_lab.client.call(frame_socket, "cli0")
    try:
        client.sendto(discover(mac, flags=0), ("255.255.255.255", 67))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            frame = frames.recv(2048)
            ip_header = frame[14:34]
            if ip_header[9] == socket.IPPROTO_UDP and struct.unpack("!H", frame[36:38])[0] == 68:
                break
        destination_mac, destination_ip = frame[:6], socket.inet_ntoa(ip_header[16:20])
        reply = parse(frame[42:])
    finally:
        frames.close()
    assert reply.message_type == MessageType.OFFER and reply.flags == 0
    assert (destination_mac, destination_ip) == (mac, reply.yiaddr)


def test_relayed_requests_go_back_to_the_relay(dhcp_lab: Lab, db: Database) -> None:
    """A relay at 10.77.0.2 whose client side is 10.5.0.1 (giaddr): the
    reply goes to the relay's port 67, from the cluster network's pool, with
    the relay agent information echoed; a NAK to a relay is broadcast-flagged."""
    add_cluster_network(db, "10.5.0.0/24", "10.5.0.1", "10.5.0.50-10.5.0.59")
    assert dhcp_lab.service.directory is not None
    dhcp_lab.service.directory.refresh()
    dhcp_lab.client.ip("addr", "add", "10.77.0.2/24", "dev", "cli0")
    dhcp_lab.client.ip("addr", "add", "10.5.0.1/24", "dev", "cli0")
    dhcp_lab.server.ip("route", "add", "10.5.0.0/24", "via", "10.77.0.2")
    relay = dhcp_lab.client.call(broadcast_socket, "cli0", 67)
    try:
        relayed = Packet(
            op=1,
            xid=0x5151,
            hops=1,
            chaddr=bytes.fromhex("020000000505").ljust(16, b"\0"),
            giaddr="10.5.0.1",
            options={opt.MESSAGE_TYPE: b"\x01", opt.RELAY_AGENT: RELAY_AGENT_INFO},
        )
        relay.sendto(build(relayed), ("10.77.0.1", 67))
        offer = dhcp_message(relay, 0x5151)
        assert offer.message_type == MessageType.OFFER and offer.giaddr == "10.5.0.1"
        assert 50 <= int(offer.yiaddr.rsplit(".", 1)[1]) <= 59
        assert offer.options[opt.ROUTER] == opt.ip("10.5.0.1")
        assert offer.options[opt.RELAY_AGENT] == RELAY_AGENT_INFO
        relayed.options = {opt.MESSAGE_TYPE: b"\x03", opt.REQUESTED_IP: opt.ip("10.77.0.150")}
        relay.sendto(build(relayed), ("10.77.0.1", 67))
        nak = dhcp_message(relay, 0x5151)
        assert nak.message_type == MessageType.NAK and nak.flags & FLAG_BROADCAST
    finally:
        relay.close()


def test_only_the_bound_interface_is_served(dhcp_lab: Lab) -> None:
    veth(dhcp_lab.server, "srv1", dhcp_lab.client, "cli1")
    dhcp_lab.server.ip("addr", "add", "10.78.0.1/24", "dev", "srv1")
    other = dhcp_lab.client.call(broadcast_socket, "cli1", 68)
    try:
        other.sendto(discover(bytes.fromhex("020000000606")), ("255.255.255.255", 67))
        other.settimeout(1.5)
        with pytest.raises(TimeoutError):
            other.recv(4096)
    finally:
        other.close()
    assert not dhcp_lab.log.events("dhcp.discover", mac="02:00:00:00:06:06")


def test_bad_packets_are_dropped_with_a_log_line(dhcp_lab: Lab, client: socket.socket) -> None:
    good = discover(bytes.fromhex("020000000707"))
    reply_from_elsewhere = bytearray(good)
    reply_from_elsewhere[0] = 2
    bad = {
        "truncated": good[:100],
        "wrong magic cookie": good[:236] + b"\0\0\0\0" + good[240:],
        "runs past the end": good[:240] + bytes((53, 1, 1, 12, 40)) + b"abc",
        "impossible length": good[:240] + bytes((53, 1, 1, 50, 2, 10, 77, 255)),
        "message type 2 is not one a client sends": good[:240] + bytes((53, 1, 2, 255)),
        "message type 42": good[:240] + bytes((53, 1, 42, 255)),
        "reply from another server": bytes(reply_from_elsewhere),
        "not Ethernet": good[:1] + b"\x06" + good[2:],
    }
    for data in bad.values():
        client.sendto(data, ("255.255.255.255", 67))
    deadline = time.monotonic() + 5
    while len(dhcp_lab.log.events("dhcp.dropped")) < len(bad) and time.monotonic() < deadline:
        time.sleep(0.05)
    reasons = [event["reason"] for event in dhcp_lab.log.events("dhcp.dropped")]
    assert len(reasons) == len(bad)
    for reason in bad:
        assert any(reason in logged for logged in reasons), (reason, reasons)
    assert not dhcp_lab.log.events("dhcp.discover")
    client.sendto(good, ("255.255.255.255", 67))
    assert dhcp_message(client).message_type == MessageType.OFFER
