"""Which packets are queries, and how replies fit the client's buffer."""

from __future__ import annotations

import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, RR, DNSRecord

from bootsvc.net.dns.message import (
    BADVERS,
    CLASSIC_UDP,
    UDP_PAYLOAD,
    Query,
    Rejected,
    build_reply,
    parse_query,
)


def header(flags: int = 0x0100, qd: int = 1, an: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", 0x4242, flags, qd, an, 0, ar)


def name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


def question(
    qname: bytes = name(b"node1", b"lab", b"example"), qtype: int = 1, qclass: int = 1
) -> bytes:
    return qname + struct.pack("!HH", qtype, qclass)


def opt(udp_len: int = 1232, version: int = 0) -> bytes:
    return b"\x00" + struct.pack("!HHIH", 41, udp_len, version << 16, 0)


def rejected(packet: bytes) -> Rejected:
    result = parse_query(packet)
    assert isinstance(result, Rejected)
    return result


def rcode_of(result: Rejected) -> int:
    assert result.reply is not None
    reply = DNSRecord.parse(result.reply)
    assert reply.header.id == 0x4242 and reply.header.qr == 1
    options = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    extended = options[0].edns_rcode << 4 if options else 0
    return int(reply.header.rcode) | extended


def test_a_plain_query_parses() -> None:
    query = parse_query(header() + question())
    assert isinstance(query, Query)
    assert query.key == (b"node1", b"lab", b"example")
    assert (query.qtype, query.edns, query.udp_limit) == (QTYPE.A, False, CLASSIC_UDP)


@pytest.mark.parametrize(("size", "limit"), [(4096, UDP_PAYLOAD), (100, CLASSIC_UDP)])
def test_edns_buffer_size_is_clamped(size: int, limit: int) -> None:
    query = parse_query(header(ar=1) + question() + opt(size))
    assert isinstance(query, Query)
    assert query.edns and query.udp_limit == limit


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"\x12\x34\x01", "short"),
        (header(flags=0x8180) + question(), "response"),
    ],
)
def test_dropped_without_answer(packet: bytes, reason: str) -> None:
    result = rejected(packet)
    assert (result.reason, result.reply) == (reason, None)


def _pointer_chain(depth: int) -> bytes:
    """An answer whose owner name is a chain of `depth` compression pointers,
    each to the one before, hidden in an opaque record's data."""
    start = len(header()) + len(question())
    blob_offset = start + 1 + 10  # root owner name, then type/class/ttl/rdlength
    pointers = [0xC000 | 12] + [0xC000 | (blob_offset + 2 * i) for i in range(depth - 1)]
    blob = b"".join(struct.pack("!H", p) for p in pointers)
    opaque = b"\x00" + struct.pack("!HHIH", 65280, 1, 0, len(blob)) + blob
    last = struct.pack("!H", 0xC000 | (blob_offset + 2 * (depth - 1)))
    final = last + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x0a\x00\x00\x01"
    return header(an=2) + question() + opaque + final


@pytest.mark.parametrize(
    ("packet", "rcode"),
    [
        (header() + question() + b"\x00" * 5000, RCODE.FORMERR),
        (header(flags=0x1100) + question(), RCODE.NOTIMP),
        (header(qd=0), RCODE.FORMERR),
        (header(qd=2) + question() + question(), RCODE.FORMERR),
        (header() + question()[:-3], RCODE.FORMERR),
        (header() + question(name(b"a" * 64, b"example")), RCODE.FORMERR),
        (header() + question(name(*[b"b" * 63] * 5)), RCODE.FORMERR),
        (header() + question(b"\xc0\x0c"), RCODE.FORMERR),
        (header() + question(b"\xc0\x20"), RCODE.FORMERR),
        (_pointer_chain(3000), RCODE.FORMERR),
        (header() + question(qclass=3), RCODE.NOTIMP),
        (header() + question(qtype=252), RCODE.NOTIMP),
        (header() + question(qtype=41), RCODE.FORMERR),
        (header(ar=2) + question() + opt() + opt(), RCODE.FORMERR),
        (header(ar=1) + question() + opt(version=1), BADVERS),
    ],
    ids=[
        "oversized",
        "opcode-status",
        "no-question",
        "two-questions",
        "truncated",
        "label-64",
        "name-over-255",
        "pointer-loop",
        "pointer-forward",
        "pointer-chain-3000",
        "class-chaos",
        "axfr",
        "qtype-opt",
        "two-opt",
        "edns-version-1",
    ],
)
def test_answered_with_an_error(packet: bytes, rcode: int) -> None:
    assert rcode_of(rejected(packet)) == rcode


def test_pointer_chain_is_fine_when_short() -> None:
    assert isinstance(parse_query(_pointer_chain(5)), Query)


def _query(edns_size: int | None = None) -> Query:
    record = DNSRecord.question("big.lab.example")
    if edns_size is not None:
        record.add_ar(EDNS0(udp_len=edns_size))
    query = parse_query(bytes(record.pack()))
    assert isinstance(query, Query)
    return query


ADDRESSES = [
    RR.fromZone(f"big.lab.example. 60 IN A 10.0.{i // 250}.{i % 250}")[0] for i in range(60)
]


def test_too_large_for_udp_is_truncated() -> None:
    reply = DNSRecord.parse(build_reply(_query(), RCODE.NOERROR, CLASSIC_UDP, ADDRESSES))
    assert reply.header.tc == 1
    assert reply.rr == [] and len(reply.questions) == 1


def test_edns_buffer_lets_it_fit() -> None:
    query = _query(4096)
    data = build_reply(query, RCODE.NOERROR, query.udp_limit, ADDRESSES)
    reply = DNSRecord.parse(data)
    assert reply.header.tc == 0 and len(reply.rr) == 60
    assert len(data) <= UDP_PAYLOAD
    assert [rr.rtype for rr in reply.ar] == [QTYPE.OPT]


def test_additional_is_dropped_before_truncating() -> None:
    reply = DNSRecord.parse(
        build_reply(_query(), RCODE.NOERROR, CLASSIC_UDP, ADDRESSES[:2], (), ADDRESSES)
    )
    assert reply.header.tc == 0
    assert len(reply.rr) == 2 and reply.ar == []


@pytest.mark.parametrize(("rd", "cd"), [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_reply_flags(rd: int, cd: int) -> None:
    query = parse_query(header(flags=(rd << 8) | (cd << 4) | 0x0020) + question())
    assert isinstance(query, Query)
    reply = DNSRecord.parse(
        build_reply(
            query, RCODE.NXDOMAIN, CLASSIC_UDP, authoritative=True, recursion_available=True
        )
    )
    h = reply.header
    assert (h.id, h.qr, h.opcode, h.aa, h.tc, h.rd, h.ra, h.ad, h.cd, h.rcode) == (
        0x4242,
        1,
        0,
        1,
        0,
        rd,
        1,
        0,
        cd,
        RCODE.NXDOMAIN,
    )
    assert reply.questions == query.record.questions
