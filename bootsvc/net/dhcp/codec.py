"""DHCPv4 messages to and from bytes (RFC 2131, 2132), with option overload
(option 52: options carried in the `file` and `sname` fields) and long
options split into several instances and concatenated again (RFC 3396).

Parsing is strict about structure, because a server must never act on a
packet it misread: a short header, a wrong magic cookie, an option running
past the end of its field, or a known option of impossible length raises
`DecodeError`. Unknown options are kept as bytes.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

from bootsvc.net.dhcp import options as opt

BOOTREQUEST = 1
BOOTREPLY = 2
HTYPE_ETHERNET = 1
FLAG_BROADCAST = 0x8000
MAGIC = b"\x63\x82\x53\x63"
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
OPTIONS_START = HEADER.size + len(MAGIC)
SNAME_SPAN = (44, 108)
FILE_SPAN = (108, 236)
# IP and UDP headers: option 57 counts the whole datagram (576 is its floor).
IP_UDP_OVERHEAD = 28
MIN_DATAGRAM = 576
MAX_DATAGRAM = 1500
# BOOTP relays and old clients drop messages shorter than a BOOTP packet.
MIN_MESSAGE = 300
ZERO_IP = "0.0.0.0"


class DecodeError(ValueError):
    """The bytes are not a well-formed DHCP message."""


class EncodeError(ValueError):
    """The message does not fit the size the client accepts."""


@dataclass(slots=True)
class Packet:
    op: int
    xid: int = 0
    # All 16 bytes of the field; the first `hlen` are the hardware address.
    chaddr: bytes = bytes(16)
    htype: int = HTYPE_ETHERNET
    hlen: int = 6
    hops: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: str = ZERO_IP
    yiaddr: str = ZERO_IP
    siaddr: str = ZERO_IP
    giaddr: str = ZERO_IP
    sname: bytes = b""
    file: bytes = b""
    # Insertion order is wire order; a code's instances are already joined.
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def mac(self) -> str:
        return self.chaddr[: self.hlen].hex(":")

    @property
    def message_type(self) -> int | None:
        value = self.options.get(opt.MESSAGE_TYPE)
        return value[0] if value else None

    def ip_option(self, code: int) -> str | None:
        value = self.options.get(code)
        return socket.inet_ntoa(value) if value and len(value) == 4 else None

    def text_option(self, code: int) -> str | None:
        value = self.options.get(code)
        return opt.to_text(value) if value is not None else None

    @property
    def max_datagram(self) -> int:
        value = self.options.get(opt.MAX_MESSAGE_SIZE)
        size = struct.unpack("!H", value)[0] if value and len(value) == 2 else MIN_DATAGRAM
        return min(max(size, MIN_DATAGRAM), MAX_DATAGRAM)

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & FLAG_BROADCAST)


def _read_options(data: bytes, start: int, end: int, into: dict[int, bytes], where: str) -> None:
    index = start
    while index < end:
        code = data[index]
        if code == opt.PAD:
            index += 1
            continue
        if code == opt.END:
            return
        if index + 1 >= end:
            raise DecodeError(f"option {code} in {where} has no length byte")
        stop = index + 2 + data[index + 1]
        if stop > end:
            raise DecodeError(f"option {code} in {where} runs past the end")
        value = data[index + 2 : stop]
        into[code] = into[code] + value if code in into else value
        index = stop


def _check_lengths(options: dict[int, bytes]) -> None:
    for code, value in options.items():
        bounds = opt.LENGTHS.get(code)
        if bounds is None:
            continue
        low, high, step = bounds
        if not low <= len(value) <= high or len(value) % step:
            raise DecodeError(f"option {code} has impossible length {len(value)}")
    uuid = options.get(opt.CLIENT_UUID)
    if uuid is not None and uuid[0] != 0:
        raise DecodeError("option 97 (client UUID) does not start with type 0")


def parse(data: bytes) -> Packet:
    if len(data) < OPTIONS_START:
        raise DecodeError(f"truncated: {len(data)} bytes, a DHCP message has at least 240")
    (
        op,
        htype,
        hlen,
        hops,
        xid,
        secs,
        flags,
        ciaddr,
        yiaddr,
        siaddr,
        giaddr,
        chaddr,
        sname,
        file,
    ) = HEADER.unpack_from(data)
    if data[HEADER.size : OPTIONS_START] != MAGIC:
        raise DecodeError("wrong magic cookie")
    if hlen > 16:
        raise DecodeError(f"hardware address length {hlen} is more than 16")
    options: dict[int, bytes] = {}
    _read_options(data, OPTIONS_START, len(data), options, "options")
    overload = options.pop(opt.OVERLOAD, None)
    if overload is not None and len(overload) == 1 and overload[0] in (1, 2, 3):
        # RFC 2131: the file field is read before sname; both only after options.
        if overload[0] & 1:
            _read_options(data, *FILE_SPAN, options, "file")
            file = b""
        if overload[0] & 2:
            _read_options(data, *SNAME_SPAN, options, "sname")
            sname = b""
        # Option 52 counts only in the options field itself.
        options.pop(opt.OVERLOAD, None)
    elif overload is not None:
        raise DecodeError(f"option 52 (overload) is not 1 byte of 1, 2 or 3: {overload.hex()}")
    _check_lengths(options)
    return Packet(
        op=op,
        htype=htype,
        hlen=hlen,
        hops=hops,
        xid=xid,
        secs=secs,
        flags=flags,
        ciaddr=socket.inet_ntoa(ciaddr),
        yiaddr=socket.inet_ntoa(yiaddr),
        siaddr=socket.inet_ntoa(siaddr),
        giaddr=socket.inet_ntoa(giaddr),
        chaddr=chaddr,
        sname=sname.rstrip(b"\x00"),
        file=file.rstrip(b"\x00"),
        options=options,
    )


def _instances(code: int, value: bytes) -> list[bytes]:
    """One option as wire instances of at most 255 bytes of data each."""
    if not 0 < code < 255:
        raise EncodeError(f"option code {code} is reserved")
    if len(value) <= 255:
        return [bytes((code, len(value))) + value]
    return [
        bytes((code, len(value[i : i + 255]))) + value[i : i + 255]
        for i in range(0, len(value), 255)
    ]


class _Field:
    """One area options are written into, with room kept for its END byte."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity - 1
        self.data = bytearray()

    @property
    def room(self) -> int:
        return self.capacity - len(self.data)

    def close(self, size: int) -> bytes:
        self.data.append(opt.END)
        return bytes(self.data).ljust(size, b"\x00")


def _spill(items: list[tuple[int, bytes]], fields: list[_Field]) -> int:
    """Fill the fields in order. An option that fits whole in the next field
    moves there (firmware rarely joins split options); a longer one is split
    where the field ends and RFC 3396 joins it again. Returns the number of
    fields used."""
    current = 0
    for code, value in items:
        rest = value
        while True:
            here = fields[current]
            whole = len(rest) <= 255
            if whole and len(rest) + 2 <= here.room:
                here.data += bytes((code, len(rest))) + rest
                break
            after = fields[current + 1] if current + 1 < len(fields) else None
            if after is not None and (here.room < 3 or (whole and len(rest) + 2 <= after.room)):
                current += 1
                continue
            if here.room < 3:
                raise EncodeError("the options do not fit the message size the client accepts")
            take = min(len(rest), here.room - 2, 255)
            here.data += bytes((code, take)) + rest[:take]
            rest = rest[take:]
    return current + 1


def build(packet: Packet, max_datagram: int = MIN_DATAGRAM) -> bytes:
    """Encode `packet`; options that do not fit the options field go into
    `file` and `sname` when those are empty (option 52 says which)."""
    size = min(max(max_datagram, MIN_DATAGRAM), MAX_DATAGRAM) - IP_UDP_OVERHEAD
    room = size - OPTIONS_START
    items = [(code, value) for code, value in packet.options.items() if code != opt.OVERLOAD]
    wire = b"".join(part for code, value in items for part in _instances(code, value))
    sname, file = packet.sname, packet.file
    if len(wire) + 1 <= room:
        body = wire + bytes((opt.END,))
    else:
        spare = [(1, FILE_SPAN)] if not file else []
        spare += [(2, SNAME_SPAN)] if not sname else []
        if not spare:
            raise EncodeError("the options do not fit and sname and file are both in use")
        fields = [_Field(room - 3)] + [_Field(stop - start) for _, (start, stop) in spare]
        used = _spill(items, fields)
        flag = sum(bit for bit, _ in spare[: used - 1])
        body = bytes((opt.OVERLOAD, 1, flag)) + fields[0].close(0)
        for (bit, (start, stop)), area in zip(spare, fields[1:], strict=True):
            if flag & bit:
                filled = area.close(stop - start)
                if bit == 1:
                    file = filled
                else:
                    sname = filled
    if len(sname) > 64 or len(file) > 128:
        raise EncodeError("sname is longer than 64 bytes or file longer than 128")
    header = HEADER.pack(
        packet.op,
        packet.htype,
        packet.hlen,
        packet.hops,
        packet.xid,
        packet.secs,
        packet.flags,
        socket.inet_aton(packet.ciaddr),
        socket.inet_aton(packet.yiaddr),
        socket.inet_aton(packet.siaddr),
        socket.inet_aton(packet.giaddr),
        packet.chaddr,
        sname,
        file,
    )
    return (header + MAGIC + body).ljust(MIN_MESSAGE, b"\x00")
