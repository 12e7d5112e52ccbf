"""The DNS server: UDP and TCP on one port, one asyncio loop, no thread per
request.

UDP is read in batches straight off a non-blocking socket. A positive
answer is packed once and kept under the query's bytes (less its ID), so a
name asked again costs a dict lookup and one sendto; the cache is emptied
whenever the zones change. Negative answers, and answers for names outside
the zones, are never cached: before one is sent the zones are asked for
their latest state, once for the whole batch, so a name registered a moment
ago (even in a cluster created a moment ago) resolves on the next query.
Names outside the zones are forwarded to upstream resolvers for allowed
clients, or REFUSED.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from dnslib import RCODE

from bootsvc.logs import event
from bootsvc.net.dns.forward import Forwarder
from bootsvc.net.dns.message import (
    MAX_QUERY,
    TCP_LIMIT,
    Query,
    Rejected,
    build_reply,
    parse_query,
    status_reply,
)
from bootsvc.net.dns.throttle import ThrottledLog
from bootsvc.net.dns.zone import Answer, ZoneSet

log = logging.getLogger("bootsvc.dns")

Address = tuple[str, int]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

UDP_BATCH = 128
CACHE_ENTRIES = 20_000
# About 5,000 queries (the kernel counts some 800 bytes each): half a second
# at 10,000 queries a second.
RECEIVE_BUFFER = 4 * 2**20
MAX_TCP_CLIENTS = 128
# RFC 7766 asks servers to close idle connections after some seconds.
TCP_IDLE_SECONDS = 10.0
_LENGTH = struct.Struct("!H")
_HEADER_SIZE = 12
# Linux's asm-generic/socket.h; Python's socket module does not name it.
_SO_RCVBUFFORCE = 33


class ZoneSource(Protocol):
    """Where the server's authoritative data comes from."""

    def current(self) -> ZoneSet:
        """The zones, at most a short refresh interval old; called per batch."""

    def latest(self) -> ZoneSet:
        """The zones with every change committed before this call."""


def _large_receive_buffer(udp: socket.socket) -> None:
    """Room for the queries that arrive while the zones are rebuilt. The
    kernel caps SO_RCVBUF at net.core.rmem_max; root may go past it."""
    try:
        udp.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, RECEIVE_BUFFER)
    except PermissionError:
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)


def bind_sockets(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same port; port 0 picks one free for both."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _attempt in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
            continue
        tcp.listen(128)
        _large_receive_buffer(udp)
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise OSError(f"no port free for both UDP and TCP on {host}")


class DnsServer:
    def __init__(
        self,
        zones: ZoneSource,
        udp: socket.socket,
        tcp: socket.socket,
        forwarder: Forwarder | None = None,
        forward_clients: Sequence[Network] = (),
    ) -> None:
        self.zones = zones
        self.udp = udp
        self.tcp = tcp
        self.forwarder = forwarder
        self.forward_clients = list(forward_clients)
        self.stats: Counter[str] = Counter()
        self._zones = zones.current()
        self._cache: dict[bytes, bytes] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_clients = 0
        self._throttled = ThrottledLog(log)

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer on both sockets until `stop` is set."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self.udp.fileno(), self._on_udp)
        server = await asyncio.start_server(self._on_tcp, sock=self.tcp)
        host, port = self.udp.getsockname()[:2]
        event(log, "dns.listening", host=host, port=port, zones=len(self._zones.zones))
        try:
            await stop.wait()
        finally:
            loop.remove_reader(self.udp.fileno())
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            event(log, "dns.stopped", **dict(sorted(self.stats.items())))

    def _use(self, zones: ZoneSet) -> None:
        if zones is not self._zones:
            self._zones = zones
            self._cache.clear()

    # UDP

    def _on_udp(self) -> None:
        batch: list[tuple[bytes, Address]] = []
        for _ in range(UDP_BATCH):
            try:
                batch.append(self.udp.recvfrom(MAX_QUERY + 1))
            except OSError:
                break
        if not batch:
            return
        self.stats["udp"] += len(batch)
        self._use(self.zones.current())
        waiting: list[tuple[Query, bytes, Address]] = []
        for data, peer in batch:
            cached = self._cache.get(data[2:])
            if cached is not None:
                self.stats["cache_hits"] += 1
                self._send(data[:2] + cached, peer)
                continue
            try:
                self._udp_query(data, peer, waiting)
            except Exception as exc:
                self._internal_error(exc, peer)
        if waiting:
            self._use(self.zones.latest())
            for query, data, peer in waiting:
                try:
                    self._udp_answer(query, data, peer, self._zones.lookup(query.key, query.qtype))
                except Exception as exc:
                    self._internal_error(exc, peer)

    def _udp_query(
        self, data: bytes, peer: Address, waiting: list[tuple[Query, bytes, Address]]
    ) -> None:
        query = parse_query(data)
        if isinstance(query, Rejected):
            self._reject(query, peer)
            if query.reply is not None:
                self._send(query.reply, peer)
            return
        answer = self._zones.lookup(query.key, query.qtype)
        if answer is None or answer.negative:
            waiting.append((query, data, peer))
            return
        self._udp_answer(query, data, peer, answer)

    def _udp_answer(self, query: Query, data: bytes, peer: Address, answer: Answer | None) -> None:
        if answer is None:
            forwarder = self._forwarder_for(query, peer)
            if forwarder is None:
                self._send(self._refused(query, query.udp_limit), peer)
                return
            forwarding = self._forward_udp(forwarder, query, data, peer)
            task = asyncio.get_running_loop().create_task(forwarding)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        reply = self._authoritative(query, answer, query.udp_limit)
        if not answer.negative:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[data[2:]] = reply[2:]
        self._send(reply, peer)

    async def _forward_udp(
        self, forwarder: Forwarder, query: Query, data: bytes, peer: Address
    ) -> None:
        try:
            self._send(await self._forward(forwarder, query, data, tcp=False), peer)
        except Exception as exc:
            self._internal_error(exc, peer)

    def _send(self, reply: bytes, peer: Address) -> None:
        try:
            self.udp.sendto(reply, peer)
        except OSError as exc:
            self.stats["send_failed"] += 1
            self._throttled.event("dns.send_failed", peer=peer[0], error=type(exc).__name__)

    # TCP

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self._tcp_clients >= MAX_TCP_CLIENTS:
            self.stats["tcp_refused"] += 1
            self._throttled.event("dns.tcp_busy", peer=peer[0], clients=self._tcp_clients)
            writer.close()
            return
        self._tcp_clients += 1
        try:
            while True:
                prefix = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS)
                (length,) = _LENGTH.unpack(prefix)
                if not _HEADER_SIZE <= length <= MAX_QUERY:
                    self._reject(Rejected("tcp-length", None), peer)
                    break
                data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_SECONDS)
                self.stats["tcp"] += 1
                reply = await self._tcp_reply(data, peer)
                if reply is not None:
                    writer.write(_LENGTH.pack(len(reply)) + reply)
                    await writer.drain()
        except (EOFError, OSError, TimeoutError):
            pass
        except Exception as exc:
            self._internal_error(exc, peer)
        finally:
            self._tcp_clients -= 1
            writer.close()

    async def _tcp_reply(self, data: bytes, peer: Address) -> bytes | None:
        query = parse_query(data)
        if isinstance(query, Rejected):
            self._reject(query, peer)
            return query.reply
        self._use(self.zones.current())
        answer = self._zones.lookup(query.key, query.qtype)
        if answer is None or answer.negative:
            self._use(self.zones.latest())
            answer = self._zones.lookup(query.key, query.qtype)
        if answer is not None:
            return self._authoritative(query, answer, TCP_LIMIT)
        forwarder = self._forwarder_for(query, peer)
        if forwarder is None:
            return self._refused(query, TCP_LIMIT)
        return await self._forward(forwarder, query, data, tcp=True)

    # Shared

    def _authoritative(self, query: Query, answer: Answer, limit: int) -> bytes:
        return build_reply(
            query,
            answer.rcode,
            limit,
            answer.answer,
            answer.authority,
            answer.additional,
            authoritative=True,
            recursion_available=self.forwarder is not None,
        )

    def _forwarder_for(self, query: Query, peer: Address) -> Forwarder | None:
        """The forwarder, if this client may have this query forwarded."""
        if query.recursion_desired and self._may_forward(peer):
            return self.forwarder
        return None

    def _refused(self, query: Query, limit: int) -> bytes:
        self.stats["refused"] += 1
        return status_reply(query, RCODE.REFUSED, limit)

    def _may_forward(self, peer: Address) -> bool:
        address = ipaddress.ip_address(peer[0].partition("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.forward_clients)

    async def _forward(self, forwarder: Forwarder, query: Query, data: bytes, tcp: bool) -> bytes:
        self.stats["forwarded"] += 1
        reply = await forwarder.forward(query, data, tcp)
        if reply is not None:
            return reply
        self.stats["forward_failed"] += 1
        self._throttled.event("dns.forward_failed", qname=str(query.record.q.qname))
        limit = TCP_LIMIT if tcp else query.udp_limit
        return status_reply(query, RCODE.SERVFAIL, limit, recursion_available=True)

    def _reject(self, rejected: Rejected, peer: Address) -> None:
        self.stats["rejected"] += 1
        self.stats[f"rejected.{rejected.reason}"] += 1
        self._throttled.event(
            "dns.rejected",
            reason=rejected.reason,
            peer=peer[0],
            answered="yes" if rejected.reply is not None else "dropped",
        )

    def _internal_error(self, exc: Exception, peer: Address) -> None:
        self.stats["internal_errors"] += 1
        self._throttled.event(
            "dns.error", level=logging.ERROR, peer=peer[0], error=f"{type(exc).__name__}: {exc}"
        )
