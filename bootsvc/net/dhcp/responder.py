"""The one question the DHCP server asks the rest of bootsvc: given this
request, what do we answer? The server owns sockets, parsing and addressing;
a `Responder` owns every decision (addresses, leases, boot files).

The answer comes through a callback rather than a return value, because a
lease answer waits for a database commit: the responder hands the request to
whatever commits, and the reply goes out from there when the commit is done,
so the server never parks a thread per waiting client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.classify import Client
from bootsvc.net.dhcp.codec import ZERO_IP, Packet
from bootsvc.net.dhcp.options import MessageType


@dataclass(frozen=True, slots=True)
class Request:
    packet: Packet
    kind: MessageType
    client: Client
    # The UDP port it came in on: 67, or 4011 for PXE boot server requests.
    port: int
    # This server's address on the interface the request came in on.
    server_ip: str
    source: tuple[str, int]

    @property
    def mac(self) -> str:
        return self.packet.mac

    @property
    def requested_ip(self) -> str | None:
        return self.packet.ip_option(opt.REQUESTED_IP)

    @property
    def server_id(self) -> str | None:
        return self.packet.ip_option(opt.SERVER_ID)

    @property
    def ciaddr(self) -> str | None:
        return None if self.packet.ciaddr == ZERO_IP else self.packet.ciaddr

    @property
    def giaddr(self) -> str | None:
        return None if self.packet.giaddr == ZERO_IP else self.packet.giaddr


@dataclass(slots=True)
class Reply:
    kind: MessageType
    yiaddr: str = ZERO_IP
    siaddr: str = ZERO_IP
    file: str = ""
    sname: str = ""
    # Options besides 53 (message type) and 54 (server identifier, which
    # defaults to the interface address), in any order: the server puts the
    # ones the client asked for (option 55) first.
    options: dict[int, bytes] = field(default_factory=dict)
    # Why a NAK, or which decision was taken; goes on the log line.
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """No reply, and why: in words for the log line, and as one of a few
    short causes for the metrics (a label, so never an address or a MAC)."""

    reason: str
    cause: str


Respond = Callable[[Reply | Silence], None]


class Responder(Protocol):
    def answer(self, request: Request, respond: Respond) -> None:
        """Decide the reply and pass it to `respond` exactly once: before
        returning, or later from another thread. Must not block."""
