"""Bad input never crashes the server: 100,000 random and mutated packets
sent to a running server in a network namespace, after which it still
answers a valid DISCOVER; and coverage-guided fuzzing of the codec (atheris)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootsvc.core.dhcp import leases
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import FLAG_BROADCAST, Packet, build, parse
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.leasetables import BOUND, DECLINED, OFFERED, RELEASED
from tests.support.dhcpstack import LAB_SETTINGS, Lab, running_service
from tests.support.fuzzing import (
    Mutation,
    blast,
    database_with_known_node,
    drain,
    flip,
    noise,
    truncate,
)
from tests.support.nslab import broadcast_socket

HERE = Path(__file__).parent
KNOWN, KNOWN_IP = bytes.fromhex("02000000aaaa"), "10.77.0.50"
PACKETS = 100_000
FIRMWARE = [
    bytes.fromhex(f["hex"])
    for f in json.loads((HERE / "fixtures" / "firmware_discovers.json").read_text())
]


def templates() -> list[bytes]:
    mac = bytes.fromhex("020000000909").ljust(16, b"\0")
    request = {
        opt.MESSAGE_TYPE: b"\x03",
        opt.REQUESTED_IP: opt.ip("10.77.0.150"),
        opt.SERVER_ID: opt.ip("10.77.0.1"),
    }
    relayed = {opt.MESSAGE_TYPE: b"\x01", opt.RELAY_AGENT: b"\x01\x02ab"}
    made = [
        build(Packet(op=1, xid=1, chaddr=mac, flags=FLAG_BROADCAST, options=request)),
        build(Packet(op=1, xid=2, chaddr=mac, giaddr="10.77.0.9", options=relayed)),
        build(
            Packet(
                op=1, xid=3, chaddr=mac, ciaddr="10.77.0.150", options={opt.MESSAGE_TYPE: b"\x07"}
            )
        ),
    ]
    return FIRMWARE + made


def splice_options(rng: random.Random, data: bytes) -> bytes:
    """Valid header, then options with lengths that lie: zero, too long for
    the packet, oversized for the option, duplicated, overloaded."""
    out = bytearray(data[:240])
    for _ in range(rng.randint(1, 10)):
        code = rng.choice([53, 50, 54, 57, 52, 61, 93, 97, 175, 43, 82, 12, rng.randrange(256)])
        length = rng.choice([0, 1, 2, 4, 17, 255, rng.randrange(256)])
        out += bytes((code, length)) + rng.randbytes(rng.randrange(0, length + 2))
    if rng.random() < 0.5:
        out.append(255)
    return bytes(out)


def header(rng: random.Random, data: bytes) -> bytes:
    """Odd header fields on a packet that is otherwise fine."""
    out = bytearray(data)
    field = rng.choice([0, 1, 2, 3, 10, 11])
    out[field] = rng.randrange(256)
    if rng.random() < 0.3:
        out[108:236] = rng.randbytes(128)
        out[44:108] = rng.randbytes(64)
    return bytes(out)


MUTATIONS: list[Mutation] = [
    flip,
    truncate,
    noise,
    splice_options,
    header,
]


@pytest.fixture
def fuzz_lab(tmp_path: Path, sqlite_template: Path) -> Iterator[Lab]:
    db = database_with_known_node(tmp_path, sqlite_template, KNOWN.hex(":"), KNOWN_IP)
    config = Settings(
        data_dir=tmp_path, database_url=db.url, dhcp_mode=DhcpMode.AUTHORITATIVE, **LAB_SETTINGS
    )
    with running_service(config, db) as lab:
        yield lab
    db.dispose()


@pytest.mark.netns
def test_server_survives_fuzzing(fuzz_lab: Lab) -> None:
    sock = fuzz_lab.client.call(broadcast_socket, "cli0", 68, 5.0)
    server = fuzz_lab.service.server

    def send(packet: bytes) -> None:
        sock.sendto(packet, ("255.255.255.255", 67))

    try:
        sent = blast(send, lambda: server.stats["received"], templates(), MUTATIONS, PACKETS)
        stats = server.stats
        assert sent >= PACKETS
        # Replies the fuzzed relay addresses sent back to the server itself
        # come in too (and are dropped as replies).
        assert stats["received"] >= sent
        assert stats["failed"] == 0
        handled = stats["dropped"] + stats["silent"] + stats["offer"] + stats["ack"] + stats["nak"]
        assert handled == stats["received"]
        assert stats["dropped"] > PACKETS // 2
        assert fuzz_lab.log.counts["dhcp.dropped"] == stats["dropped"]
        # Still answering (a node with a reservation: the fuzzing may well
        # have used up the pool, as a real flood of new MACs would).
        chaddr = KNOWN.ljust(16, b"\0")
        discover = {opt.MESSAGE_TYPE: b"\x01"}
        valid = Packet(op=1, xid=0xFEED, chaddr=chaddr, flags=FLAG_BROADCAST, options=discover)
        drain(sock)
        sock.sendto(build(valid), ("255.255.255.255", 67))
        deadline = time.monotonic() + 5
        while True:
            reply = parse(sock.recv(4096))
            if reply.xid == 0xFEED or time.monotonic() > deadline:
                break
        assert reply.xid == 0xFEED and reply.message_type == opt.MessageType.OFFER
        assert reply.yiaddr == KNOWN_IP
    finally:
        sock.close()
    # No lease was corrupted: every row is a pool address in a known state.
    with fuzz_lab.service.db.read() as session:
        rows = leases.rows(session)
    for row in rows:
        in_pool = 100 <= int(row.ip.rsplit(".", 1)[1]) <= 199 and row.ip.startswith("10.77.0.")
        assert in_pool or (row.ip, row.mac) == (KNOWN_IP, KNOWN.hex(":"))
        assert row.state in {BOUND, RELEASED, DECLINED, OFFERED}
        assert len(row.mac.split(":")) == 6


def test_atheris_codec(tmp_path: Path) -> None:
    """libFuzzer-driven inputs, seeded with the captured firmware packets."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index, data in enumerate(templates()):
        (corpus / f"seed{index}").write_bytes(data)
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "atheris_dhcp.py"),
            "-runs=100000",
            "-seed=7",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 100000 runs" in done.stderr
