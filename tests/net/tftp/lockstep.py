"""A lock-step TFTP client for many transfers at once: each sends its RRQ,
then ACKs block after block, resending its last packet when the server goes
quiet. It is the load generator of the concurrency test and of
bench/tftp_throughput.py, where the same client runs against dnsmasq."""

from __future__ import annotations

import hashlib
import resource
import selectors
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

RRQ, DATA, ACK, ERROR, OACK = 1, 3, 4, 5, 6
_HEADER = struct.Struct("!HH")


def rrq(name: str, options: dict[str, str] | None = None, mode: str = "octet") -> bytes:
    fields = [name, mode]
    for key, value in (options or {}).items():
        fields += [key, value]
    return struct.pack("!H", RRQ) + b"".join(part.encode() + b"\0" for part in fields)


def ack(block: int) -> bytes:
    return _HEADER.pack(ACK, block & 0xFFFF)


@dataclass
class Transfer:
    name: str
    sock: socket.socket
    last: bytes
    blksize: int = 512
    peer: tuple[str, int] | None = None
    block: int = 1
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    sent_at: float = 0.0
    progress_at: float = 0.0
    tsize: int | None = None
    held: bytes | None = None
    error: str | None = None
    done: bool = False

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()

    @property
    def ended(self) -> bool:
        return self.done or self.error is not None

    def handle(self, data: bytes, now: float) -> bytes | None:
        """The reply to one datagram from the server, if it needs one."""
        if len(data) < 4:
            return None
        opcode, block = _HEADER.unpack_from(data)
        if opcode == ERROR:
            self.error = data[4:].rstrip(b"\0").decode("ascii", "replace")
            return None
        if opcode == OACK and self.block == 1:
            fields = data[2:].split(b"\0")
            offered = dict(zip(fields[0::2], fields[1::2], strict=False))
            self.blksize = int(offered.get(b"blksize", b"512"))
            if b"tsize" in offered:
                self.tsize = int(offered[b"tsize"])
            self.progress_at = now
            return ack(0)
        if opcode != DATA:
            return None
        if block != self.block & 0xFFFF:
            return ack(self.block - 1)  # a repeated block: ACK it again
        payload = data[4:]
        self.digest.update(payload)
        self.size += len(payload)
        self.block += 1
        self.progress_at = now
        self.done = len(payload) < self.blksize
        return ack(block)


@dataclass
class Outcome:
    transfers: list[Transfer]
    seconds: float
    # With `together`: how many transfers the server had answered, and so held
    # open, at the moment the client let them go on.
    held_at_once: int = 0

    @property
    def failed(self) -> list[Transfer]:
        return [t for t in self.transfers if not t.done]

    @property
    def bytes(self) -> int:
        return sum(t.size for t in self.transfers)


def _raise_descriptor_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def fetch_all(
    server: tuple[str, int],
    names: Sequence[str],
    options: dict[str, str] | None = None,
    resend_seconds: float = 1.0,
    give_up_seconds: float = 15.0,
    together: bool = False,
) -> Outcome:
    """Fetch every name at once, one socket per transfer. With `together`,
    each transfer holds back its answer to the server's first reply until
    every transfer has had one: the server then has all of them open at once."""
    _raise_descriptor_limit(2 * len(names) + 64)
    selector = selectors.DefaultSelector()
    start = time.monotonic()
    transfers = []
    for name in names:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((server[0], 0))
        transfer = Transfer(name, sock, rrq(name, options), sent_at=start, progress_at=start)
        sock.sendto(transfer.last, server)
        selector.register(sock, selectors.EVENT_READ, transfer)
        transfers.append(transfer)
    running, held_at_once = len(transfers), 0
    while running:
        now = time.monotonic()
        for key, _ in selector.select(0.05):
            transfer = key.data
            if transfer.held is not None:
                continue
            try:
                data, source = transfer.sock.recvfrom(65536)
            except BlockingIOError:
                continue
            if transfer.peer not in (None, source):
                continue
            first = transfer.peer is None
            transfer.peer = source
            reply = transfer.handle(data, now)
            if reply is not None and first and together:
                transfer.held = reply
            elif reply is not None:
                transfer.sock.sendto(reply, source)
                transfer.last, transfer.sent_at = reply, now
        if together and (
            all(t.held is not None or t.ended for t in transfers) or now - start > give_up_seconds
        ):
            together = False
            held_at_once = sum(t.held is not None for t in transfers)
            for transfer in transfers:
                if transfer.held is not None and transfer.peer is not None:
                    transfer.sock.sendto(transfer.held, transfer.peer)
                    transfer.last, transfer.sent_at, transfer.held = transfer.held, now, None
        for transfer in transfers:
            if transfer.sock.fileno() < 0 or transfer.held is not None:
                continue
            if not transfer.ended and now - transfer.progress_at > give_up_seconds:
                transfer.error = "timed out"
            if transfer.ended:
                selector.unregister(transfer.sock)
                transfer.sock.close()
                running -= 1
            elif now - transfer.sent_at > resend_seconds:
                transfer.sock.sendto(transfer.last, transfer.peer or server)
                transfer.sent_at = now
    selector.close()
    return Outcome(transfers, time.monotonic() - start, held_at_once)
