"""Helpers for the DNS protocol tests: a server on loopback (an ephemeral
port, UDP and TCP) in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from dnslib import RR

from bootsvc.net.dns import DnsServer, Forwarder, ZoneSet, bind_sockets
from bootsvc.net.dns.server import Network


class SwappableZones:
    """A ZoneSource whose next state the test sets: `current()` keeps serving
    the old zones until `latest()` is called, as a refresh interval would."""

    def __init__(self, records: Sequence[RR]) -> None:
        self.served = ZoneSet(records)
        self.pending: ZoneSet | None = None
        self.latest_calls = 0

    def publish(self, records: Sequence[RR]) -> None:
        self.pending = ZoneSet(records)

    def current(self) -> ZoneSet:
        return self.served

    def latest(self) -> ZoneSet:
        self.latest_calls += 1
        if self.pending is not None:
            self.served, self.pending = self.pending, None
        return self.served


@contextmanager
def running(
    zones: SwappableZones,
    upstreams: Sequence[tuple[str, int]] = (),
    forward_clients: Sequence[Network] = (),
    host: str = "127.0.0.1",
) -> Iterator[tuple[DnsServer, int]]:
    udp, tcp = bind_sockets(host, 0)
    forwarder = Forwarder(upstreams, timeout=1.0) if upstreams else None
    server = DnsServer(zones, udp, tcp, forwarder, forward_clients)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(stop),))
    thread.start()
    try:
        yield server, udp.getsockname()[1]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
        udp.close()
        tcp.close()
