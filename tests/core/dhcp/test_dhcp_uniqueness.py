"""No two MACs ever hold one address: clients race for a small pool through
two servers on one database, in one process (a property test that draws the
schedule) and in two processes, on SQLite and PostgreSQL.

Each grant is recorded with the database's own times (the row's updated
and expires); a RELEASE or DECLINE ends the client's interval when the
client sends it, and a grant of another address when it is granted (a
client holds one address, as a real one does). Intervals of different MACs
on one address must not overlap.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from bootsvc.core.dhcp.leases import Lease
from bootsvc.core.dhcp.networks import Network, select_network
from bootsvc.store.db import Database
from bootsvc.store.models import DhcpLease
from tests.support.clock import Clock
from tests.support.dhcpstack import Stack, dhcp_settings, make_stack, settle

POOL = "10.0.0.100-10.0.0.105"
ACTIONS = ("dora", "renew", "release", "decline", "reboot")

# (ip, mac, start, end)
Interval = tuple[str, str, float, float]


class Client:
    """A DHCP client as the lease book sees it, recording what it held."""

    def __init__(self, mac: str, clock: Callable[[], float], record: list[Interval]) -> None:
        self.mac = mac
        self.clock = clock
        self.record = record
        self.held: str | None = None

    def _granted(self, outcome: Lease | Exception | None) -> None:
        if isinstance(outcome, Lease):
            if self.held not in (None, outcome.ip):
                # A client has one address: it leaves the one it held for the new one.
                self._stop(self.held, outcome.updated)
            self.held = outcome.ip
            self.record.append((outcome.ip, self.mac, outcome.updated, outcome.expires))

    def _stop(self, ip: str, when: float) -> None:
        self.record[:] = [
            (i, m, start, min(end, when)) if (i, m) == (ip, self.mac) else (i, m, start, end)
            for i, m, start, end in self.record
        ]

    def _bind(self, stack: Stack, network: Network, ip: str) -> None:
        self._granted(settle(lambda done: stack.book.bind(network, self.mac, ip, None, done)))

    def _end(self, stack: Stack, decline: bool) -> None:
        if self.held is None:
            return
        ip, sent = self.held, self.clock()
        action = stack.book.decline if decline else stack.book.release
        if isinstance(settle(lambda done: action(self.mac, ip, done)), Lease):
            self._stop(ip, sent)
        self.held = None

    def play(self, steps: list[tuple[Stack, str]]) -> None:
        for stack, action in steps:
            self.act(stack, action)

    def act(self, stack: Stack, action: str) -> None:
        network = select_network(stack.directory.networks, "10.0.0.1")
        assert network is not None
        if action == "dora":
            offer = stack.book.offer(network, self.mac, None, None, None, lambda _ip: False)
            if offer is not None:
                self._bind(stack, network, offer.ip)
        elif action in {"renew", "reboot"} and self.held is not None:
            self._bind(stack, network, self.held)
        elif action in {"release", "decline"}:
            self._end(stack, action == "decline")


def overlaps(record: list[Interval]) -> list[tuple[Interval, Interval]]:
    by_ip: dict[str, list[Interval]] = defaultdict(list)
    for interval in record:
        by_ip[interval[0]].append(interval)
    found = []
    for intervals in by_ip.values():
        for index, first in enumerate(intervals):
            for second in intervals[index + 1 :]:
                if first[1] != second[1] and first[2] < second[3] and second[2] < first[3]:
                    found.append((first, second))
    return found


def run_concurrently(work: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=item) for item in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()


schedules = st.lists(
    st.lists(st.tuples(st.integers(0, 1), st.sampled_from(ACTIONS)), min_size=1, max_size=6),
    min_size=2,
    max_size=10,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(schedule=schedules)
def test_two_servers_one_process(db: Database, data_dir: Path, schedule: list[Any]) -> None:
    with db.write() as session:
        session.execute(delete(DhcpLease))
    clock = Clock()
    config = dhcp_settings(data_dir, db, dhcp_pool=POOL)
    servers = [make_stack(Database(db.url), config, clock) for _ in range(2)]
    record: list[Interval] = []
    clients = [Client(f"02:00:00:00:02:{n:02x}", clock, record) for n in range(len(schedule))]
    try:
        run_concurrently(
            [
                partial(client.play, [(servers[server], action) for server, action in steps])
                for client, steps in zip(clients, schedule, strict=True)
            ]
        )
        # Every lease expires; the clients race again for the same addresses.
        clock.advance(config.dhcp_lease_seconds)
        run_concurrently(
            [partial(client.act, servers[n % 2], "dora") for n, client in enumerate(clients)]
        )
    finally:
        for server in servers:
            server.writer.stop()
            server.book.writer.db.dispose()
    assert not overlaps(record)
    assert len({ip for ip, *_ in record}) <= 6


def server_process(url: str, data_dir: str, first_mac: int, seconds: float) -> list[Interval]:
    """One server with its own clients, for `seconds` of DORA, renew,
    release and decline, with the real clock."""
    db = Database(url)
    config = dhcp_settings(
        Path(data_dir), db, dhcp_pool=POOL, dhcp_lease_seconds=60, dhcp_decline_seconds=1
    )
    stack = make_stack(db, config, time.time)  # type: ignore[arg-type]
    record: list[Interval] = []
    chooser = random.Random(first_mac)
    clients = [Client(f"02:00:00:00:03:{first_mac + n:02x}", time.time, record) for n in range(8)]
    deadline = time.monotonic() + seconds

    def life(client: Client) -> None:
        while time.monotonic() < deadline:
            client.act(stack, chooser.choice(ACTIONS))
            if chooser.random() < 0.2:
                stack.book.sync(db, None)

    try:
        run_concurrently([partial(life, client) for client in clients])
    finally:
        stack.writer.stop()
        db.dispose()
    return record


def test_two_server_processes(db: Database, data_dir: Path) -> None:
    """Two processes, 16 clients, 6 addresses: many claims lose, none wins twice."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        records = pool.starmap(
            server_process, [(db.url, str(data_dir), 0, 3.0), (db.url, str(data_dir), 100, 3.0)]
        )
    merged = records[0] + records[1]
    assert {mac for _, mac, *_ in records[0]} and {mac for _, mac, *_ in records[1]}
    assert len(merged) > 20
    assert not overlaps(merged)
