"""A read-only TFTP server for first-stage loaders and boot scripts.

Built on tftpy's packets and ACK state machine (see session.py), with its own
loop instead of tftpy's `listen()`, which cannot serve a boot storm:

- epoll (selectors) instead of select(), which fails past 1,024 descriptors
  and takes the whole server down; one socket per transfer, as RFC 1350 wants;
- a block is resent 0.5 s after it went out unanswered (tftpy: 5 s), and a
  transfer without progress for 10 s is dropped;
- write requests are refused (ERROR 2), and names are resolved by a
  FileSource in worker threads, so a slow database never stalls transfers;
- a failing transfer or a bad datagram ends that transfer or is dropped, with
  one log line; nothing a client sends stops the server;
- on stop it takes no new request but lets running transfers finish, for a
  bounded time: a PXE ROM cannot resume a transfer, so a restart would lose it.

Each reply goes out from the address the request was sent to (IP_PKTINFO,
IPV6_PKTINFO), so a server listening on 0.0.0.0 or :: of a multi-homed host
answers from the right one. Listening on :: serves IPv4 too (dual stack); an
IPv4 client seen as ::ffff:a.b.c.d is served and logged as the IPv4 client it is.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tftpy.TftpPacketFactory import TftpPacketFactory
from tftpy.TftpPacketTypes import TftpPacketRRQ
from tftpy.TftpShared import TftpException

from bootsvc.logs import event
from bootsvc.metrics import families
from bootsvc.net import link
from bootsvc.net.family import V4_MAPPED, unmapped
from bootsvc.net.tftp import options
from bootsvc.net.tftp.files import (
    ACCESS_VIOLATION,
    BAD_OPTION,
    ILLEGAL_OPERATION,
    NOT_DEFINED,
    FileSource,
    OpenedFile,
    ReadRequest,
    Refused,
)
from bootsvc.net.tftp.session import (
    MAX_DATAGRAM,
    OPCODE_ERROR,
    Aborted,
    Malformed,
    Session,
    error_packet,
)

log = logging.getLogger("bootsvc.tftp")

OPCODE_RRQ, OPCODE_WRQ = 1, 2
# Python 3.11 lacks these names; the values are Linux's.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_PKTINFO = struct.Struct("=i4s4s")
_PKTINFO6 = struct.Struct("=16sI")
_CONTROL_SPACE = socket.CMSG_SPACE(max(_PKTINFO.size, _PKTINFO6.size))
TICK_SECONDS = 0.1
RECEIVE_BUFFER = 4 << 20
# Requests read from the listening socket per wake-up, so that a burst of new
# clients cannot starve the transfers already running.
ACCEPT_BATCH = 64

_ACCEPT, _WAKE = object(), object()
SENT, REFUSED, ABORTED, FAILED = "sent", "refused", "aborted", "failed"


def raise_descriptor_limit() -> None:
    """One descriptor per transfer and one per open file: take all the
    process may have (the soft limit is often 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class TftpServer:
    def __init__(
        self,
        source: FileSource,
        address: tuple[str, int],
        resend_seconds: float = 0.5,
        give_up_seconds: float = 10.0,
        workers: int = 4,
        max_sessions: int = 1000,
        drain_seconds: float = 10.0,
    ) -> None:
        self.source = source
        self.max_sessions = max_sessions
        self.drain_seconds = drain_seconds
        self.resend_seconds = resend_seconds
        self.give_up_seconds = give_up_seconds
        self.sessions: dict[tuple[str, int], Session] = {}
        self.factory = TftpPacketFactory()
        self.selector = selectors.DefaultSelector()
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="tftp-open")
        self.resolved: deque[tuple[Session, Future[OpenedFile]]] = deque()
        self.mtus: dict[int, int | None] = {}
        self.stopping = threading.Event()
        self.sock = _listen(address)
        self.address: tuple[str, int] = self.sock.getsockname()
        self._wake_r, self._wake_w = socket.socketpair()
        for end in (self._wake_r, self._wake_w):
            end.setblocking(False)

    def stop(self) -> None:
        """Safe from signal handlers and other threads."""
        self.stopping.set()
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def serve_forever(self) -> None:
        raise_descriptor_limit()
        self.selector.register(self.sock, selectors.EVENT_READ, _ACCEPT)
        self.selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        try:
            self._serve_until(self.stopping.is_set)
            self.selector.unregister(self.sock)
            self.sock.close()
            deadline = time.monotonic() + self.drain_seconds
            event(log, "tftp.draining", transfers=len(self.sessions), within_s=self.drain_seconds)
            self._serve_until(lambda: not self.sessions or time.monotonic() >= deadline)
        finally:
            self._shutdown()

    def _serve_until(self, done: Callable[[], bool]) -> None:
        next_sweep = time.monotonic() + TICK_SECONDS
        while not done():
            for key, _events in self.selector.select(TICK_SECONDS):
                self._dispatch(key.data)
            now = time.monotonic()
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + TICK_SECONDS

    def _dispatch(self, target: object) -> None:
        try:
            if target is _ACCEPT:
                self._accept()
            elif target is _WAKE:
                self._drain_wake()
            elif isinstance(target, Session) and self._current(target):
                self._on_packet(target)
        except Exception as exc:
            # A bug, not a client: log it, end the transfer it hit, go on serving.
            log.error("tftp.internal-error", exc_info=exc)
            if isinstance(target, Session) and self._current(target):
                self._finish(target, FAILED, f"internal error: {exc!r}")

    def _current(self, session: Session) -> bool:
        """False for a transfer that ended earlier in the same batch of events
        (a new request from its client port replaced it): its socket is closed
        and its client's entry may be the new transfer's."""
        return self.sessions.get(session.client) is session

    # New requests on the listening socket.

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                data, ancillary, _flags, source = self.sock.recvmsg(MAX_DATAGRAM, _CONTROL_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                event(log, "tftp.receive-failed", level=logging.WARNING, error=str(exc))
                return
            index, local_ip = _destination(ancillary)
            client, local_ip = transfer_addresses(source, local_ip)
            try:
                self._request(data, client, index, local_ip)
            except Exception as exc:
                self._reject(client, NOT_DEFINED, "internal error", f"unexpected {exc!r}")

    def _request(self, data: bytes, client: tuple[str, int], index: int, local_ip: str) -> None:
        opcode = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        if opcode == OPCODE_WRQ:
            self._reject(client, ACCESS_VIOLATION, "read-only server", "write request")
            return
        if opcode == OPCODE_ERROR:
            _warn("tftp.dropped", client, None, reason="error packet on the listening port")
            return
        if opcode != OPCODE_RRQ:
            self._reject(client, ILLEGAL_OPERATION, "illegal TFTP operation", f"opcode {opcode}")
            return
        current = self.sessions.get(client)
        if current is not None:
            if current.request == data:
                return  # the client repeats a request we are answering
            self._finish(current, ABORTED, "replaced by a new request")
        try:
            packet = self.factory.parse(data)
        except (TftpException, struct.error, UnicodeError, ValueError) as exc:
            packet = exc
        if not isinstance(packet, TftpPacketRRQ):
            self._reject(client, ILLEGAL_OPERATION, "malformed request", str(packet))
            return
        filename: str = packet.filename
        if packet.mode not in {"octet", "netascii"}:
            self._reject(client, ILLEGAL_OPERATION, "mode not supported", packet.mode, filename)
            return
        if len(self.sessions) >= self.max_sessions:
            # No answer: firmware resends its request after a few seconds,
            # whereas an ERROR would end its boot.
            families.tftp_deferred()
            reason = f"{len(self.sessions)} transfers in progress; the client resends"
            _warn("tftp.deferred", client, filename, reason=reason)
            return
        try:
            wanted = options.parse(packet.options)
        except options.BadOption as exc:
            self._reject(client, BAD_OPTION, str(exc), str(exc), filename)
            return
        try:
            session = Session(
                client,
                local_ip,
                data,
                filename,
                wanted,
                self._mtu(index),
                self.resend_seconds,
                time.monotonic(),
            )
        except OSError as exc:
            self._reject(client, NOT_DEFINED, "server busy", f"no socket: {exc}", filename)
            return
        self.sessions[client] = session
        families.tftp_started()
        self.selector.register(session.sock, selectors.EVENT_READ, session)
        future = self.pool.submit(self.source.open, ReadRequest(filename, *client))
        future.add_done_callback(lambda done: self._resolved(session, done))

    def _mtu(self, index: int) -> int | None:
        if index not in self.mtus:
            self.mtus[index] = link.interface_mtu(index) if index else None
        return self.mtus[index]

    def _reject(
        self,
        client: tuple[str, int],
        code: int,
        message: str,
        reason: str,
        filename: str | None = None,
    ) -> None:
        families.tftp_refused(code)
        with contextlib.suppress(OSError):
            self.sock.sendto(error_packet(code, message), self._on_listener(client))
        _warn("tftp.refused", client, filename, code=code, reason=reason)

    def _on_listener(self, client: tuple[str, int]) -> tuple[str, int]:
        """The client's address as the listening socket's family writes it."""
        if self.sock.family == socket.AF_INET6 and "." in client[0]:
            return (V4_MAPPED + client[0], client[1])
        return client

    # Names resolved by the FileSource, in worker threads.

    def _resolved(self, session: Session, future: Future[OpenedFile]) -> None:
        self.resolved.append((session, future))
        self._wake()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        now = time.monotonic()
        while self.resolved:
            session, future = self.resolved.popleft()
            self._begin(session, future, now)

    def _begin(self, session: Session, future: Future[OpenedFile], now: float) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if self.sessions.get(session.client) is not session:
            if error is None:
                with contextlib.suppress(Exception):
                    future.result().file.close()
            return
        if isinstance(error, Refused):
            session.fail(error.code, str(error) or "refused")
            self._finish(session, REFUSED, str(error) or "refused", error.code)
            return
        if error is None:
            try:
                session.begin(future.result(), now)
                return
            except (TftpException, OSError) as exc:
                self._finish(session, FAILED, f"send failed: {exc}")
                return
            except Exception as exc:  # an answer the server cannot use
                error = exc
        log.error("tftp.source-failed", exc_info=error, extra={"fields": {"stage": "tftp"}})
        session.fail(NOT_DEFINED, "internal error")
        self._finish(session, FAILED, f"internal error: {error!r}")

    # Transfers under way.

    def _on_packet(self, session: Session) -> None:
        try:
            if session.receive(time.monotonic()):
                self._finish(session, SENT)
        except Malformed as exc:
            reason = f"malformed: {exc}"
            _warn("tftp.dropped", session.client, session.file_to_transfer, reason=reason)
        except Aborted as exc:
            self._ended_early(session, ABORTED, str(exc))
        except (TftpException, OSError) as exc:
            self._ended_early(session, FAILED, f"{type(exc).__name__}: {exc}")

    def _sweep(self, now: float) -> None:
        for session in list(self.sessions.values()):
            if now - session.progress_at >= self.give_up_seconds:
                session.fail(NOT_DEFINED, "timed out")
                self._ended_early(session, FAILED, "timed out")
            elif not session.resolving and now - session.sent_at >= self.resend_seconds:
                try:
                    session.resend(now)
                except OSError as exc:
                    self._ended_early(session, FAILED, f"resend failed: {exc}")

    def _ended_early(self, session: Session, outcome: str, reason: str) -> None:
        """A transfer that ends without its final ACK. When the last block
        went out the client has the whole file and only the ACK was lost, or
        the client closed its port at once, as iPXE does: that is a success."""
        if session.all_sent:
            self._finish(session, SENT, f"no final ACK ({reason})")
        else:
            self._finish(session, outcome, reason)

    def _finish(
        self, session: Session, outcome: str, reason: str | None = None, code: int | None = None
    ) -> None:
        """End a transfer and log its one line: tftp.sent, tftp.refused (with
        the ERROR code sent), tftp.aborted (the client gave up, as edk2 does
        after learning the size) or tftp.failed."""
        del self.sessions[session.client]
        self.selector.unregister(session.sock)
        session.end()
        families.tftp_ended(outcome, session.metrics.bytes, session.resends)
        fields: dict[str, object] = {
            "ip": session.host,
            "port": session.port,
            "mac": session.mac or link.neighbour_mac(session.host),
            "file": session.file_to_transfer,
            "stage": "tftp",
            "code": code,
            "reason": reason,
        }
        if outcome != REFUSED:
            fields |= {
                "bytes": session.metrics.bytes,
                "size": session.size,
                "blksize": session.blksize,
                "resent": session.resends,
                "ms": round((time.monotonic() - session.started) * 1000),
            }
        level = logging.WARNING if outcome == FAILED else logging.INFO
        event(log, f"tftp.{outcome}", level, **fields)

    def _shutdown(self) -> None:
        for session in list(self.sessions.values()):
            session.fail(NOT_DEFINED, "server stopping")
            self._finish(session, FAILED, "server stopping")
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.selector.close()
        for sock in (self.sock, self._wake_r, self._wake_w):
            sock.close()


def _listen(address: tuple[str, int]) -> socket.socket:
    """The listening socket; a large receive buffer holds the requests of a
    whole rack powering on at once (SO_RCVBUFFORCE lifts the sysctl cap as root).
    An IPv6 host gives an IPv6 socket, dual stack on `::`."""
    host = address[0]
    if ":" in host:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _destination(ancillary: list[tuple[int, int, bytes]]) -> tuple[int, str]:
    """The interface index and local address a request arrived on."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _PKTINFO.size:
            index, _spec, address = _PKTINFO.unpack_from(data)
            return index, socket.inet_ntoa(address)
        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(data) >= _PKTINFO6.size:
            address, index = _PKTINFO6.unpack_from(data)
            return index, socket.inet_ntop(socket.AF_INET6, address)
    return 0, ""


def transfer_addresses(source: tuple[Any, ...], local_ip: str) -> tuple[tuple[str, int], str]:
    """The client and our local address as the transfer uses them: an IPv4
    client of a dual-stack socket (::ffff:a.b.c.d) as IPv4, so that its
    transfer socket, ARP lookup and log line are IPv4's; an IPv6 client keeps
    its scope (a link-local address needs it)."""
    host, port = source[0], source[1]
    if unmapped(host) != host:
        return (unmapped(host), port), unmapped(local_ip)
    scope = source[3] if len(source) > 3 else 0
    if scope:
        return (f"{host.partition('%')[0]}%{socket.if_indextoname(scope)}", port), local_ip
    return (host, port), local_ip


def _warn(name: str, client: tuple[str, int], filename: str | None, **fields: object) -> None:
    event(
        log,
        name,
        level=logging.WARNING,
        ip=client[0],
        port=client[1],
        mac=link.neighbour_mac(client[0]),
        file=filename,
        stage="tftp",
        **fields,
    )
