"""Queries for names outside the fleet's zones go to the site's own resolvers.

Each forwarded query leaves from a fresh socket (a random source port) with
a fresh random ID, and only a reply that echoes both the ID and the
question is passed back, so that an off-path guess cannot poison a client.
A client that asked over TCP is forwarded over TCP, which is how a
truncated upstream answer reaches it whole.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections.abc import Sequence

from dnslib import DNSRecord

from bootsvc.net.dns.message import Query

Address = tuple[str, int]
_LENGTH = struct.Struct("!H")


class _OneReply(asyncio.DatagramProtocol):
    def __init__(self, ident: bytes, reply: asyncio.Future[bytes]) -> None:
        self.ident = ident
        self.reply = reply

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if data[:2] == self.ident and not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


class Forwarder:
    def __init__(
        self, upstreams: Sequence[Address], timeout: float = 2.0, max_pending: int = 256
    ) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.max_pending = max_pending
        self.pending = 0

    async def forward(self, query: Query, data: bytes, tcp: bool) -> bytes | None:
        """The first valid upstream reply, under the client's ID; None when
        every upstream failed or too many queries are already waiting."""
        if self.pending >= self.max_pending:
            return None
        self.pending += 1
        try:
            for upstream in self.upstreams:
                ident = secrets.token_bytes(2)
                ask = self._ask_tcp if tcp else self._ask_udp
                try:
                    reply = await asyncio.wait_for(ask(upstream, ident + data[2:]), self.timeout)
                except (OSError, EOFError, TimeoutError):
                    continue
                if _matches(reply, ident, query):
                    return data[:2] + reply[2:]
            return None
        finally:
            self.pending -= 1

    async def _ask_udp(self, upstream: Address, wire: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[bytes] = loop.create_future()
        transport, _protocol = await loop.create_datagram_endpoint(
            lambda: _OneReply(wire[:2], reply), remote_addr=upstream
        )
        try:
            transport.sendto(wire)
            return await reply
        finally:
            transport.close()

    async def _ask_tcp(self, upstream: Address, wire: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*upstream)
        try:
            writer.write(_LENGTH.pack(len(wire)) + wire)
            await writer.drain()
            (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
            return await reader.readexactly(length)
        finally:
            writer.close()


def _matches(reply: bytes, ident: bytes, query: Query) -> bool:
    if reply[:2] != ident:
        return False
    try:
        parsed = DNSRecord.parse(reply)
    except Exception:
        return False
    return bool(parsed.header.qr) and parsed.questions == [query.record.q]
