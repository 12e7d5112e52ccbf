"""A hand-driven TFTP client on a raw UDP socket, for what real clients never
do: withhold an ACK, repeat one, ACK a block never sent, send garbage."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

from tests.net.tftp.lockstep import DATA, ERROR, OACK, ack, rrq

Received = tuple[int, bytes, tuple[str, int]]


class Peer:
    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes, to: tuple[str, int] | None = None) -> None:
        self.sock.sendto(data, to or self.server)

    def receive(self, timeout: float = 3.0) -> Received | None:
        """(opcode, rest of the datagram, source), or None when nothing comes."""
        self.sock.settimeout(timeout)
        try:
            data, source = self.sock.recvfrom(65536)
        except TimeoutError:
            return None
        return struct.unpack_from("!H", data)[0], data[2:], source

    def error_code(self, timeout: float = 3.0) -> int | None:
        """The code of the ERROR that answers, None if nothing does."""
        got = self.receive(timeout)
        if got is None:
            return None
        opcode, body, _ = got
        assert opcode == ERROR, f"expected an ERROR, got opcode {opcode}"
        code: int = struct.unpack_from("!H", body)[0]
        return code

    def fetch(
        self,
        name: str,
        options: dict[str, str] | None = None,
        after_block: Callable[[int, tuple[str, int]], None] | None = None,
    ) -> bytes:
        """A whole lock-step download; `after_block(n, server_port)` runs
        after ACK n is sent, to meddle with the transfer."""
        self.send(rrq(name, options))
        blksize, block, data = int((options or {}).get("blksize", 512)), 1, b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = self.receive()
            assert got is not None, "the server went quiet"
            opcode, body, source = got
            if opcode == OACK:
                fields = body.split(b"\0")
                blksize = int(dict(zip(fields[0::2], fields[1::2], strict=False))[b"blksize"])
                self.send(ack(0), source)
                continue
            assert opcode == DATA, f"opcode {opcode}: {body!r}"
            number = struct.unpack_from("!H", body)[0]
            if number != block & 0xFFFF:
                continue
            payload = body[2:]
            data += payload
            self.send(ack(number), source)
            if after_block:
                after_block(number, source)
            if len(payload) < blksize:
                return data
            block += 1
        raise AssertionError("transfer did not finish")
