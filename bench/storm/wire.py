"""The three protocols a booting machine speaks, as asyncio clients cheap
enough to run a thousand at once in one thread: DHCP on one shared broadcast
socket (replies matched by transaction id), lock-step TFTP, and HTTP/1.1
that throws large bodies away in the kernel (MSG_TRUNC) instead of copying
them, so that the simulator does not compete with the server it measures."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.common import dhcp_replies
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import FLAG_BROADCAST, Packet, build

# Bodies up to this size (scripts) are kept; larger ones are only counted.
KEEP_BODY_BYTES = 1 << 20
_CHUNK = 1 << 18


class ExchangeFailed(Exception):
    """A transfer or exchange gave up: the firmware's timers ran out, or
    the server refused or broke the connection."""


@dataclass
class Counters:
    dhcp_resends: int = 0
    tftp_resends: int = 0
    http_failures: int = 0


# --- DHCP ---------------------------------------------------------------


class DhcpPort:
    """The clients' side of the segment: one socket on port 68 that every
    simulated machine sends from and whose replies go to whoever waits for
    that transaction id."""

    def __init__(self, interface: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 16 * 2**20)  # SO_RCVBUFFORCE
        self.sock.bind(("0.0.0.0", 68))
        self.sock.setblocking(False)
        self.waiting: dict[int, asyncio.Queue[Packet]] = {}
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()

    def _readable(self) -> None:
        for reply in dhcp_replies(self.sock):
            queue = self.waiting.get(reply.xid)
            if reply.op == 2 and queue is not None:
                queue.put_nowait(reply)

    async def dora(
        self, mac: bytes, extra: dict[int, bytes], timeouts: tuple[float, ...], counters: Counters
    ) -> Packet:
        """DISCOVER, OFFER, REQUEST, ACK, resending each message after the
        firmware's timeouts; the ACK."""
        xid = int.from_bytes(os.urandom(4), "big")
        queue: asyncio.Queue[Packet] = asyncio.Queue()
        self.waiting[xid] = queue
        try:
            discover = {opt.MESSAGE_TYPE: bytes((opt.MessageType.DISCOVER,)), **extra}
            offer = await self._ask(queue, mac, xid, discover, timeouts, counters)
            if offer.message_type != opt.MessageType.OFFER:
                raise ExchangeFailed(f"answer to DISCOVER was {offer.message_type}")
            request = {
                opt.MESSAGE_TYPE: bytes((opt.MessageType.REQUEST,)),
                opt.REQUESTED_IP: opt.ip(offer.yiaddr),
                opt.SERVER_ID: offer.options.get(opt.SERVER_ID, b""),
                **extra,
            }
            ack = await self._ask(queue, mac, xid, request, timeouts, counters)
            if ack.message_type != opt.MessageType.ACK:
                raise ExchangeFailed(f"answer to REQUEST was {ack.message_type}")
            return ack
        finally:
            del self.waiting[xid]

    async def _ask(
        self,
        queue: asyncio.Queue[Packet],
        mac: bytes,
        xid: int,
        options: dict[int, bytes],
        timeouts: tuple[float, ...],
        counters: Counters,
    ) -> Packet:
        loop = asyncio.get_running_loop()
        packet = Packet(
            op=1, xid=xid, chaddr=mac.ljust(16, b"\0"), flags=FLAG_BROADCAST, options=options
        )
        wanted = (
            {opt.MessageType.OFFER}
            if options[opt.MESSAGE_TYPE][0] == opt.MessageType.DISCOVER
            else {opt.MessageType.ACK, opt.MessageType.NAK}
        )
        for number, timeout in enumerate(timeouts):
            if number:
                counters.dhcp_resends += 1
            self.sock.sendto(build(packet), ("255.255.255.255", 67))
            until = loop.time() + timeout
            while (left := until - loop.time()) > 0:
                try:
                    reply = await asyncio.wait_for(queue.get(), left)
                except TimeoutError:
                    break
                if reply.chaddr[:6] == mac and reply.message_type in wanted:
                    return reply
        raise ExchangeFailed(f"no answer to DHCP after {len(timeouts)} tries")


def boot_file(ack: Packet) -> tuple[str, str]:
    """The next server and boot file a DHCP answer names."""
    name = (ack.options.get(opt.BOOTFILE) or ack.file).split(b"\0", 1)[0]
    server = ack.options.get(opt.TFTP_SERVER)
    next_server = server.decode() if server else ack.siaddr
    if next_server == "0.0.0.0":
        next_server = socket.inet_ntoa(ack.options.get(opt.SERVER_ID, bytes(4)))
    return next_server, name.decode()


# --- TFTP ---------------------------------------------------------------

RRQ, DATA, ACK, ERROR, OACK = 1, 3, 4, 5, 6


def _rrq(name: str, options: dict[str, str]) -> bytes:
    fields = [name, "octet", *(part for pair in options.items() for part in pair)]
    return struct.pack("!H", RRQ) + b"".join(part.encode() + b"\0" for part in fields)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, addr))


async def tftp_get(
    server: str,
    name: str,
    source: str,
    blksize: int,
    size_probe: bool,
    timeouts: tuple[float, ...],
    counters: Counters,
) -> int:
    """Fetch `name` lock-step at `blksize`, as firmware does: a legacy PXE
    ROM first asks for the size alone and aborts; resend the last packet
    after each timeout. The number of bytes received."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Datagrams, local_addr=(source, 0))
    try:
        if size_probe:
            peer = await _exchange(
                transport, protocol, _rrq(name, {"tsize": "0"}), (server, 69), timeouts, counters
            )
            transport.sendto(struct.pack("!HH", ERROR, 8) + b"size only\0", peer[1])
        options = {"blksize": str(blksize), "tsize": "0"}
        return await _receive(
            transport, protocol, _rrq(name, options), (server, 69), blksize, timeouts, counters
        )
    finally:
        transport.close()


async def _exchange(
    transport: asyncio.DatagramTransport,
    protocol: _Datagrams,
    packet: bytes,
    to: tuple[str, int],
    timeouts: tuple[float, ...],
    counters: Counters,
) -> tuple[bytes, tuple[str, int]]:
    for number, timeout in enumerate(timeouts):
        if number:
            counters.tftp_resends += 1
        transport.sendto(packet, to)
        try:
            return await asyncio.wait_for(protocol.queue.get(), timeout)
        except TimeoutError:
            continue
    raise ExchangeFailed(f"TFTP: no answer after {len(timeouts)} tries")


async def _receive(
    transport: asyncio.DatagramTransport,
    protocol: _Datagrams,
    request: bytes,
    server: tuple[str, int],
    blksize: int,
    timeouts: tuple[float, ...],
    counters: Counters,
) -> int:
    last, to, expected, received = request, server, 1, 0
    while True:
        data, peer = await _exchange(transport, protocol, last, to, timeouts, counters)
        opcode = struct.unpack_from("!H", data)[0] if len(data) >= 4 else 0
        if opcode == ERROR:
            raise ExchangeFailed(f"TFTP error: {data[4:-1].decode(errors='replace')}")
        if opcode == OACK and expected == 1:
            fields = data[2:].split(b"\0")
            agreed = dict(zip(fields[0::2], fields[1::2], strict=False))
            blksize = int(agreed.get(b"blksize", b"512"))
            last, to = struct.pack("!HH", ACK, 0), peer
        elif opcode == DATA:
            block = struct.unpack_from("!H", data, 2)[0]
            to = peer
            if block == expected & 0xFFFF:
                received += len(data) - 4
                expected += 1
                last = struct.pack("!HH", ACK, block)
                if len(data) - 4 < blksize:
                    transport.sendto(last, peer)
                    return received
            else:
                last = struct.pack("!HH", ACK, (expected - 1) & 0xFFFF)


# --- HTTP ---------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    length: int
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class HttpClient:
    """One client's HTTP/1.1 connection, kept alive across requests to the
    same server as iPXE does, from the machine's own address. `timeout`
    bounds each wait (connect, send, the next bytes), not a whole body."""

    source: str
    timeout: float
    sock: socket.socket | None = None
    peer: tuple[str, int] | None = None
    buffer: bytearray = field(default_factory=bytearray)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.peer = None, None
        self.buffer.clear()

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Answer:
        parts = urlsplit(url)
        peer = (parts.hostname or "", parts.port or 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: iPXE/1.21"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        try:
            return await self._round_trip(peer, wire, method)
        except (OSError, TimeoutError, ExchangeFailed) as exc:
            self.close()
            raise ExchangeFailed(f"{method} {url}: {exc!r}") from None

    async def _round_trip(self, peer: tuple[str, int], wire: bytes, method: str) -> Answer:
        loop = asyncio.get_running_loop()
        if self.sock is None or self.peer != peer:
            self.close()
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setblocking(False)
            self.sock.bind((self.source, 0))
            await asyncio.wait_for(loop.sock_connect(self.sock, peer), self.timeout)
            self.peer = peer
        await asyncio.wait_for(loop.sock_sendall(self.sock, wire), self.timeout)
        head = await self._head()
        status_line, *header_lines = head.split("\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0")) if method != "HEAD" else 0
        answer = Answer(status, headers, length)
        if length <= KEEP_BODY_BYTES:
            answer.body = await self._exactly(length)
        else:
            await self._discard(length)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return answer

    async def _more(self, flags: int = 0) -> bytes:
        assert self.sock is not None
        sock = self.sock
        while True:
            try:
                data = sock.recv(_CHUNK, flags)
            except BlockingIOError:
                await asyncio.wait_for(_readable(sock), self.timeout)
                continue
            if not data:
                raise ExchangeFailed("connection closed by the server")
            return data

    async def _head(self) -> str:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self.buffer += await self._more()
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return head.decode("latin-1")

    async def _exactly(self, length: int) -> bytes:
        while len(self.buffer) < length:
            self.buffer += await self._more()
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body

    async def _discard(self, length: int) -> None:
        left = length - len(self.buffer)
        self.buffer.clear()
        while left > 0:
            # MSG_TRUNC on TCP drops the data in the kernel, uncopied.
            left -= len(await self._more(socket.MSG_TRUNC))
        if left < 0:
            raise ExchangeFailed("the body ran past its Content-Length")


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def done() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), done)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())
