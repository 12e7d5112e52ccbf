"""DHCPv6 messages to and from bytes (RFC 8415): client and server messages,
relay messages with the message they carry, and the nested options of an
identity association.

Parsing is strict, as for DHCPv4: a truncated header, an option running past
the end of what holds it, a known option of impossible length, or a relay
chain deeper than relays may build raises `DecodeError`. Options keep their
wire order and repeats (a client may ask for several IA_NAs); unknown
options are kept as bytes.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from bootsvc.net.dhcp6 import options as opt

Options = list[tuple[int, bytes]]
OPTION_HEADER = struct.Struct("!HH")
RELAY_HEADER = struct.Struct("!BB16s16s")
IA_HEADER = struct.Struct("!III")
IA_ADDRESS_HEADER = struct.Struct("!16sII")
# RFC 8415 section 7.6: HOP_COUNT_LIMIT; a deeper chain is no relay's doing.
HOP_COUNT_LIMIT = 8
RELAY_KINDS = (opt.MessageType.RELAY_FORWARD, opt.MessageType.RELAY_REPLY)
_CLASS_NAMES = {opt.VENDOR_CLASS: "vendor class", opt.USER_CLASS: "user class"}


class DecodeError(ValueError):
    """The bytes are not a well-formed DHCPv6 message."""


class EncodeError(ValueError):
    """The message cannot be written: a value too long for its field."""


def first(options: Options, code: int) -> bytes | None:
    return next((value for kind, value in options if kind == code), None)


@dataclass(slots=True)
class Message:
    """A client or server message."""

    kind: int
    transaction_id: int
    options: Options = field(default_factory=list)

    def option(self, code: int) -> bytes | None:
        """The first instance of option `code`."""
        return first(self.options, code)

    @property
    def client_duid(self) -> bytes | None:
        return self.option(opt.CLIENT_ID)


@dataclass(slots=True)
class RelayMessage:
    """A Relay-forward or Relay-reply, which carries one message in option 9."""

    kind: int
    hop_count: int
    link_address: str
    peer_address: str
    options: Options = field(default_factory=list)

    def option(self, code: int) -> bytes | None:
        return first(self.options, code)

    def relayed(self) -> Message | RelayMessage:
        inner = first(self.options, opt.RELAY_MESSAGE)
        if inner is None:
            raise DecodeError("a relay message without option 9 (relay message)")
        return parse(inner)


@dataclass(slots=True)
class IaAddress:
    """An address of an identity association (option 5)."""

    address: str
    preferred_lifetime: int
    valid_lifetime: int
    options: Options = field(default_factory=list)


@dataclass(slots=True)
class IdentityAssociation:
    """An IA_NA (option 3): the client's IAID, the renew and rebind times,
    and its addresses and status as options."""

    iaid: int
    t1: int = 0
    t2: int = 0
    options: Options = field(default_factory=list)

    @property
    def addresses(self) -> list[IaAddress]:
        return [ia_address(value) for code, value in self.options if code == opt.IA_ADDRESS]


def _read_options(data: bytes, start: int, where: str) -> Options:
    found: Options = []
    index = start
    while index < len(data):
        if index + OPTION_HEADER.size > len(data):
            raise DecodeError(f"an option header in {where} is cut short")
        code, length = OPTION_HEADER.unpack_from(data, index)
        stop = index + OPTION_HEADER.size + length
        if stop > len(data):
            raise DecodeError(f"option {code} in {where} runs past the end")
        found.append((code, data[index + OPTION_HEADER.size : stop]))
        index = stop
    return found


def _check(options: Options, depth: int) -> None:
    for code, value in options:
        bounds = opt.LENGTHS.get(code)
        if bounds is not None:
            low, high, step = bounds
            if not low <= len(value) <= high or len(value) % step:
                raise DecodeError(f"option {code} has impossible length {len(value)}")
        if code == opt.IA_NA:
            _check(_read_options(value, IA_HEADER.size, "an IA_NA"), depth)
        elif code == opt.IA_TA:
            _check(_read_options(value, 4, "an IA_TA"), depth)
        elif code == opt.IA_ADDRESS:
            _check(_read_options(value, IA_ADDRESS_HEADER.size, "an IA address"), depth)
        elif code in (opt.VENDOR_CLASS, opt.USER_CLASS):
            try:
                opt.class_items(value[4:] if code == opt.VENDOR_CLASS else value)
            except opt.OptionError as exc:
                raise DecodeError(f"option {code} ({_CLASS_NAMES[code]}): {exc}") from None
        elif code == opt.RELAY_MESSAGE:
            _parse(value, depth + 1)


def _parse(data: bytes, depth: int) -> Message | RelayMessage:
    if depth > HOP_COUNT_LIMIT:
        raise DecodeError(f"relay messages nested more than {HOP_COUNT_LIMIT} deep")
    if len(data) < 4:
        raise DecodeError(f"truncated: {len(data)} bytes, a DHCPv6 message has at least 4")
    kind = data[0]
    if kind in RELAY_KINDS:
        if len(data) < RELAY_HEADER.size:
            raise DecodeError(f"truncated relay message: {len(data)} bytes, at least 34")
        _, hops, link, peer = RELAY_HEADER.unpack_from(data)
        options = _read_options(data, RELAY_HEADER.size, "a relay message")
        _check(options, depth)
        return RelayMessage(
            kind,
            hops,
            socket.inet_ntop(socket.AF_INET6, link),
            socket.inet_ntop(socket.AF_INET6, peer),
            options,
        )
    options = _read_options(data, 4, "the message")
    _check(options, depth)
    return Message(kind, int.from_bytes(data[1:4], "big"), options)


def parse(data: bytes) -> Message | RelayMessage:
    return _parse(data, 0)


def _options(options: Options) -> bytes:
    parts = []
    for code, value in options:
        if not 0 <= code <= 0xFFFF or len(value) > 0xFFFF:
            raise EncodeError(f"option {code} of {len(value)} bytes does not fit its header")
        parts.append(OPTION_HEADER.pack(code, len(value)) + value)
    return b"".join(parts)


def build(message: Message | RelayMessage) -> bytes:
    if isinstance(message, RelayMessage):
        header = RELAY_HEADER.pack(
            message.kind,
            message.hop_count,
            socket.inet_pton(socket.AF_INET6, message.link_address),
            socket.inet_pton(socket.AF_INET6, message.peer_address),
        )
        return header + _options(message.options)
    if not 0 <= message.transaction_id < 1 << 24:
        raise EncodeError(f"transaction id {message.transaction_id} is not 24 bits")
    return (
        bytes((message.kind,))
        + message.transaction_id.to_bytes(3, "big")
        + _options(message.options)
    )


def identity_association(value: bytes) -> IdentityAssociation:
    if len(value) < IA_HEADER.size:
        raise DecodeError(f"an IA_NA of {len(value)} bytes, at least 12")
    iaid, t1, t2 = IA_HEADER.unpack_from(value)
    return IdentityAssociation(iaid, t1, t2, _read_options(value, IA_HEADER.size, "an IA_NA"))


def pack_identity_association(ia: IdentityAssociation) -> bytes:
    return IA_HEADER.pack(ia.iaid, ia.t1, ia.t2) + _options(ia.options)


def ia_address(value: bytes) -> IaAddress:
    if len(value) < IA_ADDRESS_HEADER.size:
        raise DecodeError(f"an IA address of {len(value)} bytes, at least 24")
    address, preferred, valid = IA_ADDRESS_HEADER.unpack_from(value)
    inner = _read_options(value, IA_ADDRESS_HEADER.size, "an IA address")
    return IaAddress(socket.inet_ntop(socket.AF_INET6, address), preferred, valid, inner)


def pack_ia_address(item: IaAddress) -> bytes:
    address = socket.inet_pton(socket.AF_INET6, item.address)
    header = IA_ADDRESS_HEADER.pack(address, item.preferred_lifetime, item.valid_lifetime)
    return header + _options(item.options)
