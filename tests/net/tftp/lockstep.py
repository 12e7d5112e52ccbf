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


def rrq(name: str, options: dict[str, str] | None = None) -> bytes:
    fields = [name, "octet"]
    for key, value in (options or {}).items():
        fields += [key, value]
    return struct.pack("!H", RRQ) + b"".join(part.encode() + b"\0" for part in fields)


def ack(block: int) -> bytes:
    return _HEADER.pack(ACK, block & 0xFFFF)


@dataclass
class Transfer:
    name: str
    sock: socket.socket
    request: bytes
    blksize: int = 512
    peer: tuple[str, int] | None = None
    block: int = 1
    size: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    last: bytes = b""
    sent_at: float = 0.0
    progress_at: float = 0.0
    tsize: int | None = None
    error: str | None = None
    done: bool = False

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


@dataclass
class Outcome:
    transfers: list[Transfer]
    seconds: float

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
) -> Outcome:
    """Fetch every name at once, one socket per transfer."""
    _raise_descriptor_limit(len(names) + 64)
    selector = selectors.DefaultSelector()
    start = time.monotonic()
    transfers = []
    for name in names:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind((server[0], 0))
        transfer = Transfer(name, sock, rrq(name, options))
        transfer.last = transfer.request
        transfer.sent_at = transfer.progress_at = start
        sock.sendto(transfer.request, server)
        selector.register(sock, selectors.EVENT_READ, transfer)
        transfers.append(transfer)
    running = len(transfers)
    while running:
        for key, _ in selector.select(0.05):
            transfer = key.data
            if _receive(transfer):
                selector.unregister(transfer.sock)
                transfer.sock.close()
                running -= 1
        now = time.monotonic()
        for transfer in transfers:
            if transfer.done or transfer.error or transfer.sock.fileno() < 0:
                continue
            if now - transfer.progress_at > give_up_seconds:
                transfer.error = "timed out"
            elif now - transfer.sent_at > resend_seconds:
                transfer.sock.sendto(transfer.last, transfer.peer or server)
                transfer.sent_at = now
                continue
            else:
                continue
            selector.unregister(transfer.sock)
            transfer.sock.close()
            running -= 1
    selector.close()
    return Outcome(transfers, time.monotonic() - start)


def _receive(transfer: Transfer) -> bool:
    """Handle one datagram; True when the transfer has ended."""
    try:
        data, source = transfer.sock.recvfrom(65536)
    except BlockingIOError:
        return False
    if transfer.peer is None:
        transfer.peer = source
    elif source != transfer.peer:
        return False
    opcode, block = _HEADER.unpack_from(data)
    now = time.monotonic()
    if opcode == ERROR:
        transfer.error = data[4:].rstrip(b"\0").decode("ascii", "replace")
        return True
    if opcode == OACK:
        fields = data[2:].split(b"\0")
        offered = dict(zip(fields[0::2], fields[1::2], strict=False))
        transfer.blksize = int(offered.get(b"blksize", b"512"))
        if b"tsize" in offered:
            transfer.tsize = int(offered[b"tsize"])
        reply = ack(0)
    elif opcode == DATA and block == transfer.block & 0xFFFF:
        payload = data[4:]
        transfer.digest.update(payload)
        transfer.size += len(payload)
        transfer.block += 1
        reply = ack(block)
        transfer.progress_at = now
        if len(payload) < transfer.blksize:
            transfer.done = True
    elif opcode == DATA:
        reply = ack((transfer.block - 1) & 0xFFFF)  # a repeated block: ACK it again
    else:
        return False
    transfer.sock.sendto(reply, source)
    transfer.last, transfer.sent_at = reply, now
    return transfer.done
