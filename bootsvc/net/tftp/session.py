"""One read transfer, on tftpy's context and ACK state machine.

tftpy (pinned in pyproject) supplies the packet codec, block numbering with
rollover, and TftpStateExpectACK: send a block, wait for its ACK, ignore
duplicate ACKs (no Sorcerer's Apprentice), ignore ACKs for blocks not sent.
The subclasses replace what tftpy gets wrong for a boot server: the file
comes from a FileSource instead of tftpy opening paths itself (no locking, so
a BytesIO is fine: upstream #155); the socket is connected to the client, so
the kernel drops datagrams from any other transfer ID (tftpy handles them as
if they were the client's), reports an unreachable client, and sends without
a route lookup per block; and it never blocks. tftpy knows IPv4 only (its
context resolves the host with gethostbyname): a transfer makes its own
socket of the client's family.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import Any

from tftpy.TftpContexts import TftpContext
from tftpy.TftpPacketTypes import TftpPacketACK, TftpPacketOACK
from tftpy.TftpShared import TftpException, TftpTimeoutExpectACK
from tftpy.TftpStates import TftpStateExpectACK

from bootsvc.metrics import families
from bootsvc.net.tftp import options
from bootsvc.net.tftp.files import OpenedFile

OPCODE_DATA, OPCODE_ACK, OPCODE_ERROR = 3, 4, 5
MAX_DATAGRAM = 65536
_HEADER = struct.Struct("!HH")


def error_packet(code: int, message: str) -> bytes:
    return _HEADER.pack(OPCODE_ERROR, code) + message.encode("ascii", "replace") + b"\0"


class Malformed(Exception):
    """A datagram that does not parse; it is dropped."""


class Aborted(Exception):
    """The client sent an ERROR, or is unreachable: the transfer is over."""


class SendFile(TftpStateExpectACK):  # type: ignore[misc]
    """tftpy's ACK handling, sending on the connected socket. The packet last
    sent is kept as bytes, ready to resend."""

    def sendDAT(self) -> bool:
        context: Session = self.context
        data = context.fileobj.read(context.blksize)
        context.last_sent = _HEADER.pack(OPCODE_DATA, context.next_block) + data
        context.sock.send(context.last_sent)
        context.metrics.bytes += len(data)
        context.metrics.last_dat_time = time.time()
        return len(data) < context.blksize

    def sendOACK(self) -> None:
        packet = TftpPacketOACK()
        packet.options = self.context.options
        self.context.last_sent = packet.encode().buffer
        self.context.sock.send(self.context.last_sent)

    def resendLast(self) -> None:
        self.context.sock.send(self.context.last_sent)


class Session(TftpContext):  # type: ignore[misc]
    """One read transfer, from its request to the ACK of its last block."""

    sock: socket.socket

    def __init__(
        self,
        client: tuple[str, int],
        local_ip: str,
        request: bytes,
        filename: str,
        wanted: options.Wanted,
        mtu: int | None,
        resend_seconds: float,
        now: float,
    ) -> None:
        super().__init__(client[0], client[1], resend_seconds, flock=False)
        self.sock.close()
        family = socket.AF_INET6 if ":" in client[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if local_ip:
                self.sock.bind((local_ip, 0))
            self.sock.setblocking(False)
            self.sock.connect(client)
        except OSError:
            self.sock.close()
            raise
        self.tidport = client[1]
        self.request = request
        self.file_to_transfer = filename
        self.wanted = wanted
        self.mtu = mtu
        self.options: dict[str, Any] = {}
        self.blksize = options.DEFAULT_BLKSIZE
        self.last_sent = b""
        self.mac: str | None = None
        self.size: int | None = None
        self.resolving = True
        self.started = self.sent_at = self.progress_at = now
        self.resends = 0

    @property
    def host(self) -> str:
        return self._peer

    @host.setter
    def host(self, value: str) -> None:
        """tftpy's setter would resolve the host with gethostbyname, IPv4's only."""
        self._peer = self.address = value

    @property
    def client(self) -> tuple[str, int]:
        return self.host, self.port

    def begin(self, served: OpenedFile, now: float) -> None:
        """Answer the request: an OACK when an option was accepted, else block 1."""
        self.fileobj, self.size, self.mac = served.file, served.size, served.mac
        self.options = options.accept(self.wanted, served.size, self.mtu)
        self.blksize = int(self.options.get("blksize", options.DEFAULT_BLKSIZE))
        self.state = SendFile(self)
        if self.options:
            self.next_block = 0
            self.state.sendOACK()
        else:
            self.next_block = 1
            self.pending_complete = self.state.sendDAT()
        self.resolving = False
        self.sent_at = self.progress_at = now

    @property
    def all_sent(self) -> bool:
        """The last block has gone out; only its ACK is missing."""
        return bool(self.pending_complete)

    def receive(self, now: float) -> bool:
        """Handle one datagram, if one is waiting; True once the last block
        is ACKed. Raises Malformed for a datagram that does not parse, and
        Aborted when the client sent an ERROR or is unreachable."""
        try:
            data = self.sock.recv(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return False
        except ConnectionRefusedError:
            raise Aborted("client port unreachable") from None
        refusal = _client_error(data)
        if refusal is not None:
            raise Aborted(refusal)
        packet = _ack(data) or self._parse(data)
        if self.resolving:
            return False
        block, last = self.next_block, self.last_sent
        try:
            self.state = self.state.handle(packet, *self.client)
        except TftpTimeoutExpectACK:
            # A duplicate ACK long after the block went out: it was lost.
            self.resend(now)
            return False
        if self.last_sent is not last:
            self.sent_at = now
        if self.next_block != block or self.state is None:
            self.progress_at = now
        return self.state is None

    def _parse(self, data: bytes) -> Any:
        try:
            return self.factory.parse(data)
        except (TftpException, struct.error, UnicodeError, ValueError) as exc:
            raise Malformed(str(exc)) from None

    def resend(self, now: float) -> None:
        self.state.resendLast()
        self.sent_at = now
        self.resends += 1

    def end(self) -> None:
        """Close the socket and the file. tftpy's end() would lock and unlock
        the file, which a BytesIO cannot (upstream #155)."""
        self.sock.close()
        if self.fileobj is not None:
            with contextlib.suppress(Exception):  # a source's bad file is logged already
                self.fileobj.close()

    def fail(self, code: int, message: str) -> None:
        """Tell the client why the transfer ends; it may be gone already."""
        families.tftp_error(code)
        with contextlib.suppress(OSError):
            self.sock.send(error_packet(code, message))


def _client_error(data: bytes) -> str | None:
    """What the client's ERROR says, decoded here: tftpy's parser logs every
    one as an error of its own, and legacy PXE ROMs end each size probe so."""
    if len(data) < 4 or data[0] != 0 or data[1] != OPCODE_ERROR:
        return None
    message = data[4:].split(b"\0", 1)[0].decode("ascii", "replace")
    return f"client error {_HEADER.unpack_from(data)[1]}: {message}"


def _ack(data: bytes) -> TftpPacketACK | None:
    """The ACK that makes up nearly all traffic, decoded without tftpy's
    general parser (a third of the time per block)."""
    if len(data) < 4 or data[0] != 0 or data[1] != OPCODE_ACK:
        return None
    packet = TftpPacketACK()
    packet.blocknumber = (data[2] << 8) | data[3]
    return packet
