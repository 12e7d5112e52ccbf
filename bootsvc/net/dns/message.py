"""Queries in, replies out: dnslib does the wire format, this module decides
what a well-formed query is and how a reply fits the client's buffer.

Anything that is not a plain standard query is answered with the rcode
RFC 1035 and RFC 6891 give for it, or dropped when answering could feed a
loop (a response sent to us) or when there is not even a header to answer.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from dnslib import EDNS0, QTYPE, RCODE, RR, DNSHeader, DNSRecord

from bootsvc.net.dns.zone import NameKey, name_key

# A real query is a few dozen bytes; a few kB leaves room for EDNS options.
MAX_QUERY = 4096
# What we advertise and never exceed over UDP (DNS flag day 2020: no fragments).
UDP_PAYLOAD = 1232
CLASSIC_UDP = 512
TCP_LIMIT = 65535
BADVERS = 16
_HEADER = struct.Struct("!HH")
_HEADER_SIZE = 12
_QR = 0x8000
_OPCODE = 0x7800
_AA = 0x0400
_RD = 0x0100
_RA = 0x0080
_CD = 0x0010
_MAX_LABEL = 63
_MAX_NAME = 255
_CLASS_IN = 1
# IXFR, AXFR, MAILB, MAILA: zone transfers and the obsolete mailbox
# queries are not offered here (dnslib has no names for the last two).
_UNSUPPORTED_TYPES = frozenset({251, 252, 253, 254})


@dataclass(frozen=True, slots=True)
class Query:
    record: DNSRecord
    key: NameKey
    qtype: int
    edns: bool
    udp_limit: int

    @property
    def recursion_desired(self) -> bool:
        return bool(self.record.header.rd)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A packet that gets no answer from the zones; `reply` is None to drop it."""

    reason: str
    reply: bytes | None


def _header_reply(data: bytes, rcode: int) -> bytes:
    """An answer for a packet whose sections could not be trusted: its ID,
    opcode and RD bit, nothing else."""
    ident, flags = _HEADER.unpack_from(data)
    header = DNSHeader(id=ident, bitmap=flags & (_OPCODE | _RD), qr=1, rcode=rcode)
    return _pack(DNSRecord(header))


@functools.cache
def _edns(ext_rcode: int) -> EDNS0:
    """Our OPT record; packing does not change it, so one serves every reply."""
    return EDNS0(ext_rcode=ext_rcode, udp_len=UDP_PAYLOAD)


def _pack(record: DNSRecord) -> bytes:
    """dnslib packs into a bytearray; replies are kept and sliced as bytes."""
    return bytes(record.pack())


def _name_ok(record: DNSRecord) -> bool:
    labels = record.q.qname.label
    wire_length = sum(len(label) + 1 for label in labels) + 1
    return wire_length <= _MAX_NAME and all(len(label) <= _MAX_LABEL for label in labels)


def parse_query(data: bytes) -> Query | Rejected:
    if len(data) < _HEADER_SIZE:
        return Rejected("short", None)
    _ident, flags = _HEADER.unpack_from(data)
    if flags & _QR:
        return Rejected("response", None)
    if len(data) > MAX_QUERY:
        return Rejected("oversized", _header_reply(data, RCODE.FORMERR))
    if flags & _OPCODE:
        return Rejected("opcode", _header_reply(data, RCODE.NOTIMP))
    try:
        record = DNSRecord.parse(data)
    except Exception:
        # dnslib raises DNSError for most damage, but a long chain of
        # compression pointers recurses past Python's limit, and odd RDATA
        # raises whatever its parser meets: any failure here is the packet's.
        return Rejected("malformed", _header_reply(data, RCODE.FORMERR))
    if len(record.questions) != 1 or not _name_ok(record):
        return Rejected("question", _header_reply(data, RCODE.FORMERR))
    options = [rr for rr in record.ar if rr.rtype == QTYPE.OPT]
    if len(options) > 1 or (options and options[0].rname.label):
        return Rejected("edns", _header_reply(data, RCODE.FORMERR))
    question = record.q
    query = Query(
        record=record,
        key=name_key(question.qname),
        qtype=question.qtype,
        edns=bool(options),
        udp_limit=min(max(options[0].edns_len, CLASSIC_UDP), UDP_PAYLOAD)
        if options
        else CLASSIC_UDP,
    )
    if options and options[0].edns_ver != 0:
        return Rejected("edns-version", status_reply(query, BADVERS, TCP_LIMIT))
    if question.qclass != _CLASS_IN or question.qtype in _UNSUPPORTED_TYPES:
        return Rejected("unsupported", status_reply(query, RCODE.NOTIMP, TCP_LIMIT))
    if question.qtype == QTYPE.OPT:
        return Rejected("question", status_reply(query, RCODE.FORMERR, TCP_LIMIT))
    return query


def build_reply(
    query: Query,
    rcode: int,
    limit: int,
    answer: Sequence[RR] = (),
    authority: Sequence[RR] = (),
    additional: Sequence[RR] = (),
    authoritative: bool = False,
    recursion_available: bool = False,
) -> bytes:
    """Pack a reply into `limit` bytes: without the additional section when
    only that is too much, else truncated (TC) so that the client asks again
    over TCP (RFC 2181 section 9)."""
    # The flags as one bitmap: dnslib's keyword setters cost more than the
    # rest of the header.
    flags = (
        _QR
        | (query.record.header.bitmap & (_RD | _CD))
        | (_AA if authoritative else 0)
        | (_RA if recursion_available else 0)
        | (rcode & 0xF)
    )
    header = DNSHeader(id=query.record.header.id, bitmap=flags)
    options = [_edns(rcode >> 4)] if query.edns else []
    reply = DNSRecord(
        header,
        questions=[query.record.q],
        rr=list(answer),
        auth=list(authority),
        ar=list(additional) + options,
    )
    data = _pack(reply)
    if len(data) <= limit:
        return data
    reply.ar = options
    data = _pack(reply)
    if len(data) <= limit:
        return data
    reply.rr, reply.auth = [], []
    reply.header.tc = 1
    return _pack(reply)


def status_reply(query: Query, rcode: int, limit: int, recursion_available: bool = False) -> bytes:
    """A reply with no records: REFUSED, SERVFAIL, NOTIMP and the like."""
    return build_reply(query, rcode, limit, recursion_available=recursion_available)
