"""Bad input never crashes the DHCPv6 server: 100,000 random and mutated
packets sent to a running server in a network namespace, after which it
still answers a valid SOLICIT, and no lease row is other than one the range
or a reservation allows."""

from __future__ import annotations

import ipaddress
import random
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.dhcp6 import (
    DHCP6,
    DUID_LL,
    DUID_LLT,
    DHCP6_InfoRequest,
    DHCP6_RelayForward,
    DHCP6_Release,
    DHCP6_Renew,
    DHCP6_Request,
    DHCP6OptClientId,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptRapidCommit,
    DHCP6OptRelayMsg,
    DHCP6OptServerId,
)

from bootsvc.core.dhcp6 import leases
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.leasetables import BOUND, DECLINED, OFFERED, RELEASED
from tests.net.dhcp6.test_dhcp6_server import HTTP, PXE, solicit
from tests.support.dhcp6stack import (
    LAB6_SETTINGS,
    RANGE,
    Lab6,
    client_socket,
    exchange,
    running_service6,
    servers_group,
)
from tests.support.fuzzing import (
    Mutation,
    blast,
    database_with_known_node,
    drain,
    flip,
    noise,
    truncate,
)

pytestmark = pytest.mark.netns

KNOWN_MAC, KNOWN_ADDRESS = "02:00:00:00:aa:aa", "fd00:77::50"
PACKETS = 100_000
# Option codes a mutation writes, the ones the codec checks among them.
CODES = [1, 2, 3, 5, 6, 8, 9, 13, 14, 15, 16, 18, 59, 60, 61, 62]


def templates() -> list[bytes]:
    duid = DUID_LL(lladdr="02:00:00:00:09:09")
    server = DHCP6OptServerId(duid=DUID_LL(lladdr="02:00:00:00:00:01"))
    address = DHCP6OptIAAddress(addr="fd00:77::150")
    made = [
        solicit(1, 7, PXE),
        solicit(2, 16, HTTP) / DHCP6OptRapidCommit(),
        solicit(3, 7, PXE, ipxe=True),
        DHCP6_Request(trid=4)
        / DHCP6OptClientId(duid=duid)
        / server
        / DHCP6OptIA_NA(iaid=1, ianaopts=[address]),
        DHCP6_Renew(trid=5)
        / DHCP6OptClientId(duid=DUID_LLT(lladdr="02:00:00:00:09:09"))
        / server
        / DHCP6OptIA_NA(iaid=1, ianaopts=[address]),
        DHCP6_Release(trid=6) / DHCP6OptClientId(duid=duid) / server / DHCP6OptIA_NA(iaid=1),
        DHCP6_InfoRequest(trid=7),
        DHCP6_RelayForward(linkaddr="fd00:77::2", peeraddr="fe80::1")
        / DHCP6OptRelayMsg(message=solicit(8, 7, PXE)),
    ]
    return [bytes(message) for message in made]


def splice_options(rng: random.Random, data: bytes) -> bytes:
    """The header of a real message, then options whose lengths lie: zero,
    past the end, impossible for the option, nested in IA_NA or relays."""
    out = bytearray(data[:4])
    for _ in range(rng.randint(1, 10)):
        code = rng.choice([*CODES, rng.randrange(65536)])
        length = rng.choice([0, 1, 2, 3, 4, 12, 24, 0xFFFF, rng.randrange(300)])
        out += struct.pack("!HH", code, length) + rng.randbytes(rng.randrange(0, 40))
    return bytes(out)


def header(rng: random.Random, data: bytes) -> bytes:
    """Any message type on a message that is otherwise fine."""
    out = bytearray(data)
    out[0] = rng.randrange(256)
    return bytes(out)


MUTATIONS: list[Mutation] = [
    flip,
    truncate,
    noise,
    splice_options,
    header,
]


@pytest.fixture
def fuzz_lab(tmp_path: Path, sqlite_template: Path) -> Iterator[Lab6]:
    db = database_with_known_node(tmp_path, sqlite_template, KNOWN_MAC, KNOWN_ADDRESS)
    config = Settings(
        data_dir=tmp_path, database_url=db.url, dhcp6_mode=DhcpMode.AUTHORITATIVE, **LAB6_SETTINGS
    )
    with running_service6(config, db) as lab:
        yield lab
    db.dispose()


def test_server_survives_fuzzing(fuzz_lab: Lab6) -> None:
    sock = fuzz_lab.client.call(client_socket)
    server = fuzz_lab.service.server
    target = servers_group(sock)
    started = time.monotonic()
    counter = iter(range(PACKETS * 2))

    def send(packet: bytes) -> None:
        sock.sendto(packet, target)
        # Keep the client's receive buffer from filling with replies.
        if next(counter) % 100 == 99:
            drain(sock)

    try:
        sent = blast(send, lambda: server.stats["received"], templates(), MUTATIONS, PACKETS)
        stats = server.stats
        elapsed = time.monotonic() - started
        assert sent >= PACKETS
        assert stats["received"] == sent
        assert stats["failed"] == 0, fuzz_lab.log.events("dhcp6.solicit")[-3:]
        answered = stats["advertise"] + stats["reply"]
        assert stats["dropped"] + stats["silent"] + answered == stats["received"]
        assert stats["dropped"] > PACKETS // 2 and answered > 1000, stats
        assert fuzz_lab.log.counts["dhcp6.dropped"] == stats["dropped"]
        print(f"{sent} packets in {elapsed:.1f} s: {dict(stats)}")
        # Still answering: a node with a reservation gets its address (the
        # fuzzing may have used up the range, as a flood of new DUIDs would).
        drain(sock)
        valid = solicit(0xFEED, 7, PXE, mac=KNOWN_MAC)
        reply = DHCP6(exchange(sock, bytes(valid), 0xFEED))
        assert reply.msgtype == 2 and reply[DHCP6OptIAAddress].addr == KNOWN_ADDRESS
    finally:
        sock.close()
    first, last = (ipaddress.IPv6Address(a) for a in RANGE.split("-"))
    with fuzz_lab.service.db.read() as session:
        rows = leases.rows(session)
    for row in rows:
        in_range = first <= ipaddress.IPv6Address(row.address) <= last
        assert in_range or (row.address, row.mac) == (KNOWN_ADDRESS, KNOWN_MAC)
        assert row.state in {BOUND, RELEASED, DECLINED, OFFERED}
