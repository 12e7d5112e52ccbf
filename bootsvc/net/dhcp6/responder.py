"""The one question the DHCPv6 server asks the rest of bootsvc, as for
DHCPv4 (bootsvc.net.dhcp.responder): given this request, what do we answer?
The server owns the socket, parsing, relays and addressing; a
`Dhcp6Responder` owns every decision, and answers through a callback so
that a reply may wait for a lease commit without holding a thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bootsvc.net.dhcp.classify import Client
from bootsvc.net.dhcp.responder import Silence
from bootsvc.net.dhcp6 import options as opt
from bootsvc.net.dhcp6.codec import IdentityAssociation, Message, Options, identity_association
from bootsvc.net.dhcp6.options import MessageType


@dataclass(frozen=True, slots=True)
class Dhcp6Request:
    message: Message
    kind: MessageType
    client: Client
    # This server's address on the link: what boot file URLs name.
    server_address: str
    # The link the client is on: the innermost relay's link address, or
    # `server_address` when the client is on our own link.
    link_address: str
    # Where it came from: the client's link-local address, or the relay's.
    source: tuple[str, int]
    # The client's own (link-local) address: the source, or the innermost
    # relay's peer address; "" when not known.
    peer_address: str = ""

    @property
    def label(self) -> str:
        """The message type as logs and metrics name it: "information-request"."""
        return self.kind.name.lower().replace("_", "-")

    @property
    def duid(self) -> bytes:
        """Checked present by the server for every message but INFORMATION-REQUEST."""
        return self.message.client_duid or b""

    @property
    def mac(self) -> str | None:
        """The MAC its DUID carries, else the one in the EUI-64 of its
        link-local address (DUID-UUID and DUID-EN carry none)."""
        return opt.duid_link_address(self.duid) or opt.eui64_mac(self.peer_address)

    @property
    def server_duid(self) -> bytes | None:
        return self.message.option(opt.SERVER_ID)

    @property
    def identity_associations(self) -> list[IdentityAssociation]:
        return [identity_association(v) for c, v in self.message.options if c == opt.IA_NA]

    @property
    def rapid_commit(self) -> bool:
        return self.message.option(opt.RAPID_COMMIT) is not None


@dataclass(slots=True)
class Dhcp6Reply:
    kind: MessageType
    # Options besides the client and server identifiers, which the server adds.
    options: Options = field(default_factory=list)
    # The addresses given, for the log line.
    addresses: tuple[str, ...] = ()
    note: str | None = None

    def option(self, code: int) -> bytes | None:
        return next((value for kind, value in self.options if kind == code), None)


Respond6 = Callable[[Dhcp6Reply | Silence], None]


class Dhcp6Responder(Protocol):
    def answer(self, request: Dhcp6Request, respond: Respond6) -> None:
        """Decide the reply and pass it to `respond` exactly once: before
        returning, or later from another thread. Must not block."""
