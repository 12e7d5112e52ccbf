"""Two `bootsvc serve`, each in its own network namespace on one bridge,
both authoritative DHCP for one subnet on one PostgreSQL: clients in a third
namespace never get one address twice, nor two addresses for one MAC, and a
database that drops every connection costs retries, not crashes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import make_url, text

from bench.dhcp_dora import Generator, Result, client_socket, macs
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import FLAG_BROADCAST, Packet, build, parse
from bootsvc.net.dhcp.options import MessageType
from bootsvc.store.db import Database
from tests.support import nslab
from tests.support.scrape import Scrape

pytestmark = pytest.mark.netns

SUBNET = "10.78.0.0/16"
POOL = "10.78.1.0-10.78.4.255"
SERVER_IPS = ("10.78.0.1", "10.78.0.2")
CLIENTS = 200
WINDOW = 40


@dataclass
class Server:
    namespace: nslab.Namespace
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str) -> requests.Response:
        """An HTTP request to this server from inside its namespace."""
        url = f"http://127.0.0.1:8080{path}"
        return self.namespace.call(lambda: requests.get(url, timeout=5))

    def dhcp(self) -> Counter[tuple[str, str]]:
        """DHCP messages counted by /metrics, by (type, reply)."""
        scrape = Scrape(self.get("/metrics").text)
        return Counter(
            {
                (kind, reply): int(
                    scrape.value("bootsvc_dhcp_messages_total", type=kind, reply=reply)
                )
                for kind in ("discover", "request")
                for reply in ("offer", "ack", "nak")
            }
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Segment:
    servers: list[Server]
    clients: nslab.Namespace
    bridge: nslab.Namespace

    def port(self, name: str) -> str:
        """A new interface in the clients' namespace, on the bridge; its MAC."""
        nslab.veth(self.clients, name, self.bridge, f"p{name}")
        self.bridge.ip("link", "set", f"p{name}", "master", "br0")
        return self.clients.ip("-br", "link", "show", name).split()[2]


SERVERS_APPLICATION = "bootsvc-two-servers"


def _servers_url(db: Database) -> str:
    """The test database's URL, with a name on the servers' sessions that
    tells them apart from the test's own."""
    url = make_url(db.url).update_query_dict({"application_name": SERVERS_APPLICATION})
    return url.render_as_string(hide_password=False)


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"bootsvc serve exited:\n{server.log_text()}")
        try:
            if server.get("/readyz").status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"bootsvc serve never got ready:\n{server.log_text()}")
        time.sleep(0.3)


@contextmanager
def segment(db: Database, work: Path) -> Iterator[Segment]:
    """The bridge in a namespace of its own, a port each for the two servers
    and the clients; each server reaches PostgreSQL through a relay."""
    url = make_url(db.url)
    postgres = (url.host or "127.0.0.1", url.port or 5432)
    with nslab.namespaces("sbr", "ssa", "ssb", "scl") as (bridge, first, second, clients):
        bridge.ip("link", "add", "br0", "type", "bridge")
        bridge.ip("link", "set", "br0", "up")
        for namespace, inside, port in ((first, "sega", "pa"), (second, "segb", "pb")):
            nslab.veth(namespace, inside, bridge, port)
            bridge.ip("link", "set", port, "master", "br0")
        nslab.veth(clients, "cli0", bridge, "pc")
        bridge.ip("link", "set", "pc", "master", "br0")
        servers = []
        with ExitStack() as stack:
            for namespace, ip, interface in zip(
                (first, second), SERVER_IPS, ("sega", "segb"), strict=True
            ):
                namespace.ip("addr", "add", f"{ip}/16", "dev", interface)
                stack.enter_context(nslab.tcp_relay(namespace, postgres[1], postgres))
                data = work / interface
                data.mkdir()
                env = {
                    **os.environ,
                    "BOOTSVC_DATA_DIR": str(data),
                    "BOOTSVC_DATABASE_URL": _servers_url(db),
                    "BOOTSVC_HTTP_LISTEN": "0.0.0.0:8080",
                    "BOOTSVC_ADVERTISE_URL": f"http://{ip}:8080",
                    "BOOTSVC_HTTP_WORKERS": "1",
                    "BOOTSVC_HTTP_THREADS": "8",
                    "BOOTSVC_ROLLOUT_TICK_S": "0.5",
                    "BOOTSVC_DHCP_MODE": "authoritative",
                    "BOOTSVC_DHCP_INTERFACE": interface,
                    "BOOTSVC_DHCP_SUBNET": SUBNET,
                    "BOOTSVC_DHCP_POOL": POOL,
                }
                log = data / "serve.log"
                with log.open("wb") as out:
                    process = namespace.popen(
                        [sys.executable, "-m", "bootsvc", "serve"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                # Stopped before its relay closes, so it never sees the database go.
                stack.callback(nslab.stop_process, process)
                servers.append(Server(namespace, process, log))
            for server in servers:
                _wait_ready(server)
            yield Segment(servers, clients, bridge)


def dora(segment: Segment, first_mac: int, count: int) -> Result:
    """`count` simulated clients each do a DORA; late replies are read too."""

    def run() -> Result:
        sock = client_socket("cli0")
        try:
            generator = Generator(sock)
            generator.dora(list(macs(first_mac, count)), WINDOW)
            generator.drain(1.0)
            return generator.result
        finally:
            sock.close()

    return segment.clients.call(run)


def bound_leases(db: Database) -> list[tuple[str, str]]:
    with db.read() as session:
        rows = session.execute(text("SELECT ip, mac FROM dhcp_lease WHERE state = 'bound'"))
        return [(row.ip, row.mac) for row in rows]


def assert_unique(db: Database, result: Result, count: int) -> None:
    """Each client holds one address, and no address is held twice: as the
    clients saw it and as the lease table has it."""
    assert (result.done, result.lost) == (count, 0)
    got = [ip for ips in result.bound.values() for ip in set(ips)]
    assert [mac for mac, ips in result.bound.items() if len(set(ips)) > 1] == []
    assert [ip for ip, n in Counter(got).items() if n > 1] == []
    table = bound_leases(db)
    assert [mac for mac, n in Counter(mac for _, mac in table).items() if n > 1] == []
    assert len(table) == len({ip for ip, _ in table}) >= count
    theirs = {bytes.fromhex(mac.replace(":", "")): ip for ip, mac in table}
    assert {mac: ips[-1] for mac, ips in result.bound.items()} == {
        mac: theirs[mac] for mac in result.bound
    }


def udhcpc(segment: Segment, work: Path, count: int) -> dict[str, str]:
    """`count` busybox udhcpc clients at once, each on an interface of its own:
    the address each MAC got."""
    script = work / "udhcpc.sh"
    bound = work / "udhcpc.bound"
    script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && echo "$interface $ip" >> {bound}\n')
    script.chmod(0o755)
    macs = {f"ud{n}": segment.port(f"ud{n}") for n in range(count)}
    argv = ["busybox", "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "1", "-s", str(script)]
    running = [segment.clients.popen([*argv, "-i", name]) for name in macs]
    for process in running:
        assert process.wait(30) == 0
    lines = [line.split() for line in bound.read_text().splitlines()]
    return {macs[name]: ip for name, ip in lines}


def test_two_servers_never_give_an_address_twice(db: Database, tmp_path: Path) -> None:
    if db.is_sqlite:
        pytest.skip("servers share a PostgreSQL database")
    with segment(db, tmp_path) as lab:
        before = [server.dhcp() for server in lab.servers]
        result = dora(lab, 1, CLIENTS)
        assert_unique(db, result, CLIENTS)
        counted = [server.dhcp() - start for server, start in zip(lab.servers, before, strict=True)]
        # Both servers answered, and together sent what the clients received.
        assert all(c[("discover", "offer")] > 0 for c in counted)
        total = sum(counted, Counter[tuple[str, str]]())
        assert total[("discover", "offer")] == result.replies[MessageType.OFFER]
        assert total[("request", "ack")] == result.replies[MessageType.ACK]
        assert total[("request", "nak")] == result.replies[MessageType.NAK]
        # A few real clients as well: busybox udhcpc, one per interface.
        got = udhcpc(lab, tmp_path, 3)
        assert len(got) == 3
        table = {mac: ip for ip, mac in bound_leases(db)}
        assert {mac: table[mac] for mac in got} == got
        assert len(set(table.values())) == len(table) == CLIENTS + 3


def drop_connections(db: Database) -> int:
    """What a PostgreSQL restart does to its clients, without restarting a
    cluster other tests share: end the two servers' sessions."""
    with db.engine.connect() as connection:
        ended = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": SERVERS_APPLICATION},
        ).scalar_one()
    return int(ended)


def test_dropped_database_connections_cost_retries_not_crashes(
    db: Database, tmp_path: Path
) -> None:
    if db.is_sqlite:
        pytest.skip("servers share a PostgreSQL database")
    with segment(db, tmp_path) as lab, ThreadPoolExecutor(1) as pool:
        running = pool.submit(dora, lab, 1, CLIENTS)
        while len(bound_leases(db)) < CLIENTS // 4:
            time.sleep(0.01)
        assert drop_connections(db) > 0
        dropped = time.monotonic()
        result = running.result(timeout=60)
        finished = time.monotonic() - dropped
        assert_unique(db, result, CLIENTS)
        # Afterwards both servers, never restarted, answer DHCP and HTTP.
        after = dora(lab, 10_000, 20)
        assert_unique(db, after, 20)
        for server in lab.servers:
            assert server.get("/readyz").status_code == 200
            assert server.process.poll() is None
        print(f"all clients bound {finished:.2f} s after the drop: {result.summary()}")
    logs = [server.log_text() for server in lab.servers]
    assert not any("Traceback" in log or "service.died" in log for log in logs)
    # The rollout leader's session was ended: it says so in one line.
    assert any("event=rollout.leader-check-failed" in log for log in logs)


def init_reboot(segment: Segment, mac: bytes, ip: str) -> str | None:
    """A client that rebooted asks to keep `ip`, naming no server (INIT-REBOOT,
    RFC 2131 4.3.2), resending each second: the address ACKed, or None."""

    def run() -> str | None:
        sock = nslab.broadcast_socket("cli0", 68, timeout=1.0)
        request = Packet(
            op=1, xid=int.from_bytes(mac[-4:], "big"), chaddr=mac.ljust(16, b"\0"),
            flags=FLAG_BROADCAST,
            options={opt.MESSAGE_TYPE: bytes((MessageType.REQUEST,)), opt.REQUESTED_IP: opt.ip(ip)},
        )  # fmt: skip
        try:
            for _ in range(5):
                sock.sendto(build(request), ("255.255.255.255", 67))
                with contextlib.suppress(TimeoutError):
                    while (reply := parse(sock.recv(4096))).xid != request.xid:
                        pass
                    return reply.yiaddr if reply.message_type == MessageType.ACK else None
            return None
        finally:
            sock.close()

    return segment.clients.call(run)


def test_clients_of_a_killed_server_finish_from_the_other(db: Database, tmp_path: Path) -> None:
    """Server A dies between its ACKs and the nodes' next step: they keep
    their addresses from B, new clients get theirs from B, and B boots them."""
    if db.is_sqlite:
        pytest.skip("servers share a PostgreSQL database")
    with segment(db, tmp_path) as lab:
        first, second = lab.servers
        booted = dora(lab, 1, 40)
        assert_unique(db, booted, 40)
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(10)
        killed = time.monotonic()
        kept = {mac: init_reboot(lab, mac, ips[-1]) for mac, ips in booted.bound.items()}
        assert kept == {mac: ips[-1] for mac, ips in booted.bound.items()}
        fresh = dora(lab, 1000, 40)
        assert_unique(db, fresh, 40)
        assert second.get("/boot.ipxe").status_code == 200
        print(f"40 + 40 clients finished from B {time.monotonic() - killed:.1f} s after A died")
