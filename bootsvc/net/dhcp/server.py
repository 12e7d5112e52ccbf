"""The DHCP server: UDP sockets bound to one interface and one thread that
reads them, parses each packet and asks the `Responder`. The responder
answers through a callback, possibly later from the thread that commits
leases; the reply is addressed and sent from there. No thread waits per
client, so a burst costs queue space (a large socket buffer), not threads.

Every message gets one log line; a packet that cannot be used is dropped
with one line saying why, and nothing a client sends can stop the server.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence

from bootsvc.logs import event
from bootsvc.metrics import families
from bootsvc.net.datagram import receive_until
from bootsvc.net.dhcp import arp
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.classify import classify
from bootsvc.net.dhcp.codec import (
    BOOTREPLY,
    BOOTREQUEST,
    FLAG_BROADCAST,
    HTYPE_ETHERNET,
    ZERO_IP,
    DecodeError,
    EncodeError,
    Packet,
    build,
    parse,
)
from bootsvc.net.dhcp.options import CLIENT_MESSAGES, MessageType
from bootsvc.net.dhcp.responder import Reply, Request, Responder, Silence
from bootsvc.net.iface import interface_ipv4
from bootsvc.net.tally import ThreadTally

log = logging.getLogger("bootsvc.dhcp")

SERVER_PORT = 67
CLIENT_PORT = 68
PXE_PORT = 4011
BROADCAST = ("255.255.255.255", CLIENT_PORT)
SOCKET_BUFFER = 8 * 2**20
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
# How long a reply may wait for room in a full send buffer.
SEND_WAIT_SECONDS = 0.5


def open_socket(interface: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        # Linux delivers a copy of each broadcast to this host too; nobody
        # here wants our replies.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        for forced, plain in (
            (SO_RCVBUFFORCE, socket.SO_RCVBUF),
            (SO_SNDBUFFORCE, socket.SO_SNDBUF),
        ):
            try:
                sock.setsockopt(socket.SOL_SOCKET, forced, SOCKET_BUFFER)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER)
        sock.bind(("0.0.0.0", port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def unusable(packet: Packet) -> tuple[str, str] | None:
    """Why a parsed packet is not a request we can answer, if it is not: a
    short cause (for the metrics) and the reason in words (for the log)."""
    if packet.op == BOOTREPLY:
        server = packet.ip_option(opt.SERVER_ID) or "unknown"
        return "server-reply", f"reply from another server ({server})"
    if packet.op != BOOTREQUEST:
        return "bad-op", f"op {packet.op} is neither request nor reply"
    if packet.htype != HTYPE_ETHERNET or packet.hlen != 6:
        return "not-ethernet", f"hardware type {packet.htype}/{packet.hlen} is not Ethernet"
    kind = packet.message_type
    if kind is None:
        return "bootp", "no message type (plain BOOTP is not served)"
    if kind not in CLIENT_MESSAGES:
        return "not-client-message", f"message type {kind} is not one a client sends"
    return None


def reply_packet(request: Request, reply: Reply) -> Packet:
    """The reply's header and options, as RFC 2131 table 3 lays them out."""
    asked = request.packet
    options = {
        opt.MESSAGE_TYPE: bytes((reply.kind,)),
        opt.SERVER_ID: reply.options.get(opt.SERVER_ID, opt.ip(request.server_ip)),
    }
    wanted = asked.options.get(opt.PARAMETER_LIST, b"")
    for code in wanted:
        if code in reply.options:
            options.setdefault(code, reply.options[code])
    for code, value in reply.options.items():
        options.setdefault(code, value)
    # RFC 6842 and RFC 3046: the client identifier and the relay agent's
    # information go back as they came.
    for code in (opt.CLIENT_ID, opt.RELAY_AGENT):
        if code in asked.options:
            options[code] = asked.options[code]
    nak = reply.kind == MessageType.NAK
    flags = asked.flags | (FLAG_BROADCAST if nak and asked.giaddr != ZERO_IP else 0)
    return Packet(
        op=BOOTREPLY,
        htype=asked.htype,
        hlen=asked.hlen,
        xid=asked.xid,
        flags=flags,
        ciaddr=asked.ciaddr if reply.kind == MessageType.ACK else ZERO_IP,
        yiaddr=reply.yiaddr,
        siaddr=reply.siaddr,
        giaddr=asked.giaddr,
        chaddr=asked.chaddr,
        sname=reply.sname.encode(),
        file=reply.file.encode(),
        options=options,
    )


def destination(request: Request, reply: Reply) -> tuple[str, int] | None:
    """Where RFC 2131 section 4.1 sends a reply; None means unicast to
    `yiaddr` at the client's MAC, which needs a neighbour entry first."""
    asked = request.packet
    if request.port == PXE_PORT:
        return request.source
    if asked.giaddr != ZERO_IP:
        return (asked.giaddr, SERVER_PORT)
    if reply.kind == MessageType.NAK:
        return BROADCAST
    if asked.ciaddr != ZERO_IP:
        return (asked.ciaddr, CLIENT_PORT)
    if asked.broadcast or reply.yiaddr == ZERO_IP:
        return BROADCAST
    return None


def _send_waiting(sock: socket.socket, wire: bytes, target: tuple[str, int]) -> None:
    """sendto on the non-blocking socket, waiting a little when its buffer is full."""
    deadline = time.monotonic() + SEND_WAIT_SECONDS
    while True:
        try:
            sock.sendto(wire, target)
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            select.select([], [sock], [], left)


class DhcpServer:
    def __init__(
        self,
        responder: Responder,
        interface: str,
        ports: Sequence[int] = (SERVER_PORT,),
    ) -> None:
        self.responder = responder
        self.interface = interface
        self.ports = tuple(ports)
        self.server_ip = ZERO_IP
        self.sockets: dict[int, socket.socket] = {}
        self._tally = ThreadTally()

    def open(self) -> None:
        """Bind the sockets (in the caller's network namespace)."""
        address = interface_ipv4(self.interface)
        if address is None:
            raise OSError(f"interface {self.interface} has no IPv4 address")
        self.server_ip = address
        try:
            for port in self.ports:
                self.sockets[port] = open_socket(self.interface, port)
        except OSError:
            self.close()
            raise
        event(log, "dhcp.listening", interface=self.interface, ip=address, ports=self.ports)

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()

    def serve(self, stop: threading.Event) -> None:
        """Answer until `stop` is set, then close the sockets."""
        try:
            receive_until(
                stop, {sock: port for port, sock in self.sockets.items()}, self._handle, log, "dhcp"
            )
        finally:
            self.close()

    @property
    def stats(self) -> Counter[str]:
        """Messages received, dropped, answered (by reply type), left
        unanswered (silent) and failed."""
        return self._tally.total()

    def _dropped(
        self, cause: str, reason: str, source: tuple[str, int], mac: str | None = None
    ) -> None:
        self._tally.add("dropped")
        families.dhcp_message("invalid", "none", cause)
        event(
            log,
            "dhcp.dropped",
            level=logging.WARNING,
            mac=mac,
            source=f"{source[0]}:{source[1]}",
            reason=reason,
            stage="dhcp",
        )

    def _handle(self, data: bytes, source: tuple[str, int], port: int) -> None:
        self._tally.add("received")
        try:
            packet = parse(data)
        except DecodeError as exc:
            self._dropped("malformed", str(exc), source)
            return
        why = unusable(packet)
        if why is not None:
            self._dropped(*why, source, packet.mac)
            return
        kind = MessageType(packet.message_type or 0)
        request = Request(packet, kind, classify(packet), port, self.server_ip, source)
        try:
            self.responder.answer(request, lambda outcome: self._finish(request, outcome))
        except Exception as exc:
            self._failed(request, None, exc)

    def _failed(self, request: Request, reply: Reply | None, exc: Exception) -> None:
        self._tally.add("failed")
        families.dhcp_message(request.kind.label, "none", "failed")
        self._log(request, reply, level=logging.ERROR, error=f"{type(exc).__name__}: {exc}")

    def _finish(self, request: Request, outcome: Reply | Silence) -> None:
        """Send the reply, or log the silence; runs in whichever thread the
        responder answered from, and never raises into it."""
        try:
            if isinstance(outcome, Silence):
                self._tally.add("silent")
                families.dhcp_message(request.kind.label, "none", outcome.cause)
                self._log(request, reason=outcome.reason)
            else:
                self._send(request, outcome)
        except Exception as exc:
            self._failed(request, None if isinstance(outcome, Silence) else outcome, exc)

    def _send(self, request: Request, reply: Reply) -> None:
        try:
            wire = build(reply_packet(request, reply), request.packet.max_datagram)
        except EncodeError as exc:
            self._failed(request, reply, exc)
            return
        sock = self.sockets[request.port]
        target = destination(request, reply)
        if target is None:
            unicast = arp.add_neighbour(sock, reply.yiaddr, request.packet.chaddr, self.interface)
            target = (reply.yiaddr, CLIENT_PORT) if unicast else BROADCAST
        try:
            _send_waiting(sock, wire, target)
        except OSError as exc:
            self._failed(request, reply, exc)
            return
        self._tally.add(reply.kind.label)
        families.dhcp_message(request.kind.label, reply.kind.label)
        self._log(request, reply, to=target[0])

    def _log(
        self,
        request: Request,
        reply: Reply | None = None,
        level: int = logging.INFO,
        **fields: str | None,
    ) -> None:
        client = request.client
        answered = reply is not None and reply.yiaddr != ZERO_IP
        event(
            log,
            f"dhcp.{request.kind.label}",
            level=level,
            mac=request.mac,
            # The address handed out, else the one the client has or asks
            # for (in proxy mode that is the site server's lease).
            ip=reply.yiaddr if answered and reply else request.ciaddr or request.requested_ip,
            stage="dhcp",
            xid=f"{request.packet.xid:08x}",
            arch=client.arch,
            firmware=client.firmware.value,
            port=request.port,
            reply=reply.kind.label if reply else "none",
            file=reply.file if reply and reply.file else None,
            note=reply.note if reply else None,
            **fields,
        )
