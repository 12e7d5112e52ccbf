"""The DHCPv6 server: one UDP socket on port 547 of one interface, in the
All_DHCP_Relay_Agents_and_Servers group (ff02::1:2), and one thread that
reads it, as the DHCPv4 server does (bootsvc.net.dhcp.server).

A relayed message is unwrapped down to the client's, and the reply goes
back wrapped the same way, to the relay that sent it. A packet that cannot
be used is dropped with one log line saying why; nothing a client sends can
stop the server.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass

from bootsvc.logs import event
from bootsvc.metrics import families
from bootsvc.net.datagram import receive_until
from bootsvc.net.dhcp.responder import Silence
from bootsvc.net.dhcp6 import options as opt
from bootsvc.net.dhcp6.classify import classify
from bootsvc.net.dhcp6.codec import (
    DecodeError,
    EncodeError,
    Message,
    RelayMessage,
    build,
    parse,
)
from bootsvc.net.dhcp6.options import MessageType
from bootsvc.net.dhcp6.responder import Dhcp6Reply, Dhcp6Request, Dhcp6Responder
from bootsvc.net.iface import interface_ipv6, interface_mac
from bootsvc.net.tally import ThreadTally

log = logging.getLogger("bootsvc.dhcp6")

SERVER_PORT = 547
CLIENT_PORT = 546
ALL_SERVERS_AND_RELAYS = "ff02::1:2"
SOCKET_BUFFER = 4 * 2**20
SO_RCVBUFFORCE = 33
CLIENT_MESSAGES = frozenset(
    {
        MessageType.SOLICIT,
        MessageType.REQUEST,
        MessageType.CONFIRM,
        MessageType.RENEW,
        MessageType.REBIND,
        MessageType.RELEASE,
        MessageType.DECLINE,
        MessageType.INFORMATION_REQUEST,
    }
)
# RFC 8415 section 16: these must name no server, those must name one.
NO_SERVER_ID = frozenset({MessageType.SOLICIT, MessageType.CONFIRM, MessageType.REBIND})
SERVER_ID_NEEDED = frozenset(
    {MessageType.REQUEST, MessageType.RENEW, MessageType.RELEASE, MessageType.DECLINE}
)


def open_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        group = socket.inet_pton(socket.AF_INET6, ALL_SERVERS_AND_RELAYS)
        index = socket.if_nametoindex(interface)
        sock.setsockopt(
            socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("@I", index)
        )
        sock.bind(("::", SERVER_PORT))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """A client message and the relays it came through, outermost first."""

    message: Message
    relays: tuple[RelayMessage, ...]


def unwrap(parsed: Message | RelayMessage) -> Unwrapped:
    relays: list[RelayMessage] = []
    while isinstance(parsed, RelayMessage):
        if parsed.kind != MessageType.RELAY_FORWARD:
            raise DecodeError("a Relay-reply, which only servers send")
        relays.append(parsed)
        parsed = parsed.relayed()
    return Unwrapped(parsed, tuple(relays))


def unusable(message: Message) -> tuple[str, str] | None:
    """Why a client message is not one to answer, if it is not: a short
    cause and the reason in words (RFC 8415 section 16)."""
    try:
        kind = MessageType(message.kind)
    except ValueError:
        return "unknown-type", f"message type {message.kind} is unknown"
    if kind not in CLIENT_MESSAGES:
        return "not-client-message", f"{kind.name} is not a message a client sends"
    server = message.option(opt.SERVER_ID)
    if message.client_duid is None and kind != MessageType.INFORMATION_REQUEST:
        return "no-client-id", f"{kind.name} without a client identifier"
    if kind in NO_SERVER_ID and server is not None:
        return "server-id", f"{kind.name} must not name a server"
    if kind in SERVER_ID_NEEDED and server is None:
        return "no-server-id", f"{kind.name} names no server"
    return None


def reply_message(request: Dhcp6Request, reply: Dhcp6Reply, server_duid: bytes) -> Message:
    options: list[tuple[int, bytes]] = [(opt.SERVER_ID, server_duid)]
    if request.message.client_duid is not None:
        options.append((opt.CLIENT_ID, request.message.client_duid))
    options.extend(reply.options)
    return Message(reply.kind, request.message.transaction_id, options)


def wrap(reply: Message, relays: tuple[RelayMessage, ...]) -> bytes:
    """The reply inside one Relay-reply per relay, innermost first; each
    carries back its relay's Interface-Id (RFC 8415 section 19.3)."""
    wire = build(reply)
    for relay in reversed(relays):
        options = [(opt.RELAY_MESSAGE, wire)]
        interface_id = relay.option(opt.INTERFACE_ID)
        if interface_id is not None:
            options.insert(0, (opt.INTERFACE_ID, interface_id))
        wire = build(
            RelayMessage(
                MessageType.RELAY_REPLY,
                relay.hop_count,
                relay.link_address,
                relay.peer_address,
                options,
            )
        )
    return wire


class Dhcp6Server:
    def __init__(self, responder: Dhcp6Responder, interface: str) -> None:
        self.responder = responder
        self.interface = interface
        self.server_address = "::"
        self.server_duid = b""
        self.sock: socket.socket | None = None
        self._tally = ThreadTally()

    def open(self) -> None:
        """Bind the socket (in the caller's network namespace)."""
        address = interface_ipv6(self.interface)
        mac = interface_mac(self.interface)
        if address is None or mac is None:
            raise OSError(f"interface {self.interface} has no IPv6 address")
        self.server_address = address
        # DUID-LL of the interface: the same across restarts, as RFC 8415 asks.
        self.server_duid = opt.duid_ll(mac)
        self.sock = open_socket(self.interface)
        event(log, "dhcp6.listening", interface=self.interface, ip=address, port=SERVER_PORT)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def serve(self, stop: threading.Event) -> None:
        """Answer until `stop` is set, then close the socket."""
        if self.sock is None:
            raise RuntimeError("open() the server first")
        try:
            receive_until(stop, {self.sock: None}, self._handle, log, "dhcp6")
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
        families.dhcp6_message("invalid", "none", cause)
        event(
            log,
            "dhcp6.dropped",
            level=logging.WARNING,
            mac=mac,
            source=f"[{source[0]}]:{source[1]}",
            reason=reason,
            stage="dhcp6",
        )

    def _handle(self, data: bytes, source: tuple[str, int], _tag: None) -> None:
        self._tally.add("received")
        try:
            unwrapped = unwrap(parse(data))
            message = unwrapped.message
            why = unusable(message)
            # Options were checked by parse(): this only reads them.
            client = classify(message)
        except DecodeError as exc:
            self._dropped("malformed", str(exc), source)
            return
        relays = unwrapped.relays
        peer = relays[-1].peer_address if relays else source[0]
        mac = opt.duid_link_address(message.client_duid or b"") or opt.eui64_mac(peer)
        if why is not None:
            self._dropped(*why, source, mac)
            return
        link = relays[-1].link_address if relays else self.server_address
        request = Dhcp6Request(
            message,
            MessageType(message.kind),
            client,
            self.server_address,
            link,
            source,
            peer,
        )
        named = request.server_duid
        if named is not None and named != self.server_duid:
            self._finish(request, unwrapped, Silence("client chose another server", "other-server"))
            return
        try:
            self.responder.answer(
                request, lambda outcome: self._finish(request, unwrapped, outcome)
            )
        except Exception as exc:
            self._failed(request, exc)

    def _failed(self, request: Dhcp6Request, exc: Exception) -> None:
        self._tally.add("failed")
        families.dhcp6_message(request.label, "none", "failed")
        self._log(request, level=logging.ERROR, error=f"{type(exc).__name__}: {exc}")

    def _finish(
        self, request: Dhcp6Request, unwrapped: Unwrapped, outcome: Dhcp6Reply | Silence
    ) -> None:
        """Send the reply, or log the silence; never raises into the caller."""
        try:
            if isinstance(outcome, Silence):
                self._tally.add("silent")
                families.dhcp6_message(request.label, "none", outcome.cause)
                self._log(request, reason=outcome.reason)
            else:
                self._send(request, unwrapped, outcome)
        except Exception as exc:
            self._failed(request, exc)

    def _send(self, request: Dhcp6Request, unwrapped: Unwrapped, reply: Dhcp6Reply) -> None:
        try:
            wire = wrap(reply_message(request, reply, self.server_duid), unwrapped.relays)
        except EncodeError as exc:
            self._failed(request, exc)
            return
        # To the client's port, or the relay's (RFC 8415 section 7.2).
        port = SERVER_PORT if unwrapped.relays else CLIENT_PORT
        target = (request.source[0], port, *request.source[2:])
        sock = self.sock
        if sock is None:
            return
        try:
            sock.sendto(wire, target)
        except OSError as exc:
            self._failed(request, exc)
            return
        self._tally.add(reply.kind.name.lower())
        families.dhcp6_message(request.label, reply.kind.name.lower())
        self._log(request, reply, to=target[0])

    def _log(
        self,
        request: Dhcp6Request,
        reply: Dhcp6Reply | None = None,
        level: int = logging.INFO,
        **fields: str | None,
    ) -> None:
        client = request.client
        event(
            log,
            f"dhcp6.{request.label}",
            level=level,
            mac=request.mac,
            ip=",".join(reply.addresses) if reply and reply.addresses else None,
            stage="dhcp6",
            duid=request.duid.hex() or None,
            xid=f"{request.message.transaction_id:06x}",
            arch=client.arch,
            firmware=client.firmware.value,
            reply=reply.kind.name.lower() if reply else "none",
            url=_text(reply.option(opt.BOOTFILE_URL)) if reply else None,
            note=reply.note if reply else None,
            **fields,
        )


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value else None
