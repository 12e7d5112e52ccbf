"""Helpers shared by the benchmarks: a migrated database and percentiles."""

from __future__ import annotations

import atexit
import shutil
import socket
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bootsvc.net.dhcp.codec import DecodeError, Packet, parse
from bootsvc.store import schema
from bootsvc.store.db import Database


def fresh_sqlite() -> tuple[Database, Path]:
    """A migrated SQLite database in a data directory removed at exit (a
    10,000-node run leaves tens of MB behind otherwise)."""
    data_dir = Path(tempfile.mkdtemp(prefix="bootsvc-bench-"))
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    database = Database(f"sqlite:///{data_dir / 'bootsvc.db'}")
    schema.upgrade(database)
    return database, data_dir


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": cuts[49], "p99": cuts[98], "max": ordered[-1]}


def node_csv(count: int) -> str:
    lines = ["hostname,mac,ip,roles"]
    for index in range(count):
        octets = [(index >> shift) & 255 for shift in (24, 16, 8, 0)]
        mac = "52:54:" + ":".join(f"{octet:02x}" for octet in octets)
        ip = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        lines.append(f"hv{index:05d},{mac},{ip},hypervisor")
    return "\n".join(lines) + "\n"


def dhcp_replies(sock: socket.socket) -> Iterator[Packet]:
    """Every DHCP message waiting on a non-blocking socket, decoded; what does
    not decode is skipped, as firmware skips it."""
    while True:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        try:
            reply = parse(data)
        except DecodeError:
            continue
        yield reply
