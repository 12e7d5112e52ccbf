"""What the DHCP and DHCPv6 fuzz tests share: the mutations that know
nothing of the protocol, the hypothesis-driven blast of mutated packets, a
SQLite database with one node whose reservation must still be answered
after the fuzzing, and a way to throw replies away."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import InterfaceRecord, NodeRecord
from bootsvc.store.db import Database

Mutation = Callable[[random.Random, bytes], bytes]


def flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def noise(rng: random.Random, _data: bytes) -> bytes:
    return rng.randbytes(rng.randrange(0, 700))


def database_with_known_node(tmp_path: Path, template: Path, mac: str, ip: str) -> Database:
    """A copy of the migrated SQLite template with node `known` (MAC, IP)."""
    path = tmp_path / "bootsvc.db"
    shutil.copy(template, path)
    db = Database(f"sqlite:///{path}")
    with db.write() as session:
        interface = InterfaceRecord(mac=mac, ip=ip)
        cmdb.upsert_node(session, NodeRecord(hostname="known", interfaces=[interface]), "test")
    return db


def drain(sock: socket.socket) -> None:
    """Throw away the replies to fuzzed packets, so that a full receive
    buffer does not swallow the reply the test waits for."""
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while sock.recv(65535):
            pass
    sock.settimeout(5)


def blast(
    send: Callable[[bytes], None],
    received: Callable[[], int],
    bases: Sequence[bytes],
    mutations: Sequence[Mutation],
    packets: int,
    examples: int = 200,
) -> int:
    """Send `packets` mutations of `bases` in `examples` chunks that
    hypothesis draws (a seed, a base and some mutations each), pacing by
    `received` (what the server has read) so that none is lost in a socket
    buffer before the parser sees it. Returns how many were sent."""
    chunk = packets // examples
    sent = [0]

    def wait_until_read(count: int) -> None:
        deadline = time.monotonic() + 30
        while received() < count:
            assert time.monotonic() < deadline, f"the server read {received()} of {count}"
            time.sleep(0.005)

    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(
        seed=st.integers(0, 2**64 - 1),
        base=st.sampled_from(list(bases)),
        chosen=st.lists(st.sampled_from(list(mutations)), min_size=1, max_size=5),
    )
    def run(seed: int, base: bytes, chosen: list[Mutation]) -> None:
        rng = random.Random(seed)
        for n in range(chunk):
            send(chosen[n % len(chosen)](rng, base))
        sent[0] += chunk
        wait_until_read(sent[0])

    run()
    return sent[0]
