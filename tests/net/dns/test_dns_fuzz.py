"""100,000 random and mutated packets, then the server must still answer.

Packets go in bursts; after each burst a good query must be answered, so a
server that stalled or died is caught where it happened, and at the end no
packet may have reached the catch-all error path."""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable

from dnslib import EDNS0, RR, DNSRecord, EDNSOption

from bootsvc.net.dns.message import MAX_QUERY
from tests.net.dns.dnshelpers import SwappableZones, running
from tests.support.dnsdig import dig, records

PACKETS = 100_000
BURST = 250
TCP_MESSAGES = 2_000
ZONE = """
lab.example.        60 IN SOA ns.lab.example. hostmaster.lab.example. 7 3600 600 86400 10
lab.example.        60 IN NS  ns.lab.example.
ns.lab.example.     60 IN A   10.0.0.1
node1.lab.example.  60 IN A   10.0.0.11
node1.lab.example.  60 IN AAAA fd00::11
www.lab.example.    60 IN CNAME node1.lab.example.
_ceph-mon._tcp.lab.example. 60 IN SRV 10 0 3300 node1.lab.example.
"""


def seeds() -> list[bytes]:
    """Valid queries of many shapes for the mutators to start from."""
    found = []
    for name in ["node1.lab.example", "www.lab.example", "_ceph-mon._tcp.lab.example", "x.org"]:
        for qtype in ["A", "AAAA", "SRV", "ANY", "SOA", "TXT"]:
            query = DNSRecord.question(name, qtype)
            found.append(bytes(query.pack()))
            query.add_ar(EDNS0(udp_len=4096, opts=[EDNSOption(10, b"\x01" * 8)]))
            found.append(bytes(query.pack()))
    return found


Mutator = Callable[[random.Random, bytes], bytes]


def _noise(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _random(rng: random.Random, _seed: bytes) -> bytes:
    return _noise(rng, rng.choice([rng.randrange(0, 16), rng.randrange(0, 600)]))


def _flip_bits(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randrange(1, 9)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _truncate(rng: random.Random, seed: bytes) -> bytes:
    return seed[: rng.randrange(len(seed))]


def _splice(rng: random.Random, seed: bytes) -> bytes:
    start = rng.randrange(len(seed))
    end = rng.randrange(start, len(seed) + 1)
    return seed[:start] + _noise(rng, rng.randrange(0, 40)) + seed[end:]


def _counts(rng: random.Random, seed: bytes) -> bytes:
    counts = struct.pack("!HHHH", *(rng.choice([0, 1, 2, 255, 65535]) for _ in range(4)))
    return seed[:4] + counts + seed[12:]


def _pointer(rng: random.Random, seed: bytes) -> bytes:
    """A compression pointer at a random place, to anywhere (itself included)."""
    at = rng.randrange(12, len(seed))
    pointer = struct.pack("!H", 0xC000 | rng.randrange(0, len(seed) + 8))
    return seed[:at] + pointer + seed[at + rng.choice([0, 2]) :]


def _label_length(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    data[12] = rng.randrange(64, 256)
    return bytes(data)


def _types(rng: random.Random, seed: bytes) -> bytes:
    end = seed.find(b"\x00", 12) + 1 or len(seed)
    qtype, qclass = rng.randrange(65536), rng.choice([1, 3, 4, 254, 255, rng.randrange(65536)])
    return seed[:end] + struct.pack("!HH", qtype, qclass) + seed[end + 4 :]


def _flags(rng: random.Random, seed: bytes) -> bytes:
    return seed[:2] + struct.pack("!H", rng.randrange(65536)) + seed[4:]


def _oversized(rng: random.Random, seed: bytes) -> bytes:
    return seed + _noise(rng, rng.randrange(MAX_QUERY - 100, MAX_QUERY * 2))


def _trailing(rng: random.Random, seed: bytes) -> bytes:
    return seed + _noise(rng, rng.randrange(1, 200))


def _more_opt(rng: random.Random, seed: bytes) -> bytes:
    """Another OPT record: a second one, or one whose owner is not the root."""
    (additional,) = struct.unpack_from("!H", seed, 10)
    owner = rng.choice([b"\x00", b"\x01a\x00"])
    record = owner + struct.pack("!HHIH", 41, rng.randrange(65536), 0, 0)
    return seed[:10] + struct.pack("!H", (additional + 1) % 65536) + seed[12:] + record


MUTATORS: list[Mutator] = [
    _more_opt,
    _random,
    _flip_bits,
    _flip_bits,
    _truncate,
    _splice,
    _counts,
    _pointer,
    _label_length,
    _types,
    _flags,
    _trailing,
]


def packets(rng: random.Random, count: int) -> list[bytes]:
    starts = seeds()
    found = []
    for _ in range(count):
        seed = rng.choice(starts)
        if rng.random() < 0.002:
            found.append(_oversized(rng, seed))
        else:
            packet = rng.choice(MUTATORS)(rng, seed)
            if rng.random() < 0.3 and len(packet) > 12:
                packet = rng.choice(MUTATORS)(rng, packet)
            found.append(packet)
    return found


def _probe(port: int) -> bool:
    query = DNSRecord.question("node1.lab.example")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(5)
        probe.sendto(bytes(query.pack()), ("127.0.0.1", port))
        reply = DNSRecord.parse(probe.recv(4096))
    return reply.header.id == query.header.id and str(reply.rr[0].rdata) == "10.0.0.11"


def _tcp_garbage(rng: random.Random, port: int, messages: list[bytes]) -> None:
    """Length-prefixed messages, some with lying prefixes, some cut short."""
    index = 0
    while index < len(messages):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            for message in messages[index : index + rng.randrange(1, 20)]:
                index += 1
                length = rng.choice([len(message), len(message), rng.randrange(65536)])
                cut = message[: rng.randrange(len(message) + 1)]
                try:
                    conn.sendall(struct.pack("!H", length) + cut)
                except OSError:
                    break  # the server hung up on a lying prefix, as it should


def test_fuzzed_packets_never_stop_the_server() -> None:
    rng = random.Random(20_251_107)
    fuzz = packets(rng, PACKETS)
    with running(SwappableZones(list(RR.fromZone(ZONE)))) as (server, port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            for start in range(0, PACKETS, BURST):
                for packet in fuzz[start : start + BURST]:
                    sender.sendto(packet, ("127.0.0.1", port))
                assert _probe(port), f"no answer after packet {start + BURST}"
        _tcp_garbage(rng, port, packets(rng, TCP_MESSAGES))
        assert records(dig(port, "+tcp", "www.lab.example", "A"))[-1][2] == "10.0.0.11"
        assert records(dig(port, "node1.lab.example", "AAAA")) == [
            ("node1.lab.example.", "AAAA", "fd00::11")
        ]
        assert server.stats["udp"] >= PACKETS
        assert server.stats["rejected"] > PACKETS // 4
        reasons = {key.partition(".")[2] for key in server.stats if key.startswith("rejected.")}
        assert reasons >= {
            "short",
            "response",
            "oversized",
            "opcode",
            "malformed",
            "question",
            "edns",
            "edns-version",
            "unsupported",
            "tcp-length",
        }
        assert server.stats["internal_errors"] == 0
