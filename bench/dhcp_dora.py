"""DHCP benchmark: DORA exchanges (DISCOVER, OFFER, REQUEST, ACK) per second
against bootsvc, dnsmasq and Kea, on the same load in the same run.

Each server runs in its own network namespace; the load generator sits in a
second one, across a veth pair. It behaves like firmware: it broadcasts with
the broadcast flag set, keeps its transaction id through the exchange,
resends after a second of silence (up to four times), and starts over after a
NAK. Three phases per server:

- dora: every one of --clients distinct MACs completes a DORA, at most
  --window of them in flight; DORA/s, latency percentiles, clients lost.
- rate: the same number of new MACs started at a fixed --rate per second
  (open loop), to show the latency a server gives at that load.
- burst: --burst DISCOVERs from new MACs sent back to back; how many offers
  come back within five seconds.

Run as root from the repository, as a module (needs iproute2, dnsmasq, kea-dhcp4):
    .venv/bin/python -m bench.dhcp_dora [--clients 20000] [--servers bootsvc,dnsmasq,kea]
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import dhcp_replies
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import FLAG_BROADCAST, Packet, build
from tests.support import nslab

ROOT = Path(__file__).resolve().parents[1]

SERVER_IP = "10.77.0.1"
POOL = ("10.77.1.0", "10.77.255.254")
RESEND_SECONDS = 1.0
ATTEMPTS = 5
PARAMETERS = bytes((1, 3, 6, 12, 15, 28, 42, 51, 54, 58, 59))


@dataclass
class Client:
    mac: bytes
    xid: int
    started: float
    sent: float = 0.0
    attempts: int = 0
    offered: str | None = None
    server: bytes | None = None


@dataclass
class Result:
    done: int = 0
    lost: int = 0
    naks: int = 0
    resends: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    # What the clients saw: every reply on the socket by message type, and
    # the addresses each MAC was ACKed.
    replies: Counter[int | None] = field(default_factory=Counter)
    bound: dict[bytes, list[str]] = field(default_factory=dict)

    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    def summary(self) -> dict[str, float | int]:
        return {
            "clients": self.done + self.lost,
            "done": self.done,
            "lost": self.lost,
            "naks": self.naks,
            "resends": self.resends,
            "seconds": round(self.seconds, 2),
            "dora_per_s": round(self.rate()),
            "p50_ms": round(self.percentile(0.50), 1),
            "p99_ms": round(self.percentile(0.99), 1),
            "max_ms": round(max(self.latencies, default=0) * 1000, 1),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 1) if self.latencies else 0,
        }


def macs(first: int, count: int) -> Iterator[bytes]:
    for number in range(first, first + count):
        yield b"\x02" + number.to_bytes(5, "big")


def client_socket(interface: str) -> socket.socket:
    sock = nslab.broadcast_socket(interface, 68, timeout=0.0)
    sock.setsockopt(socket.SOL_SOCKET, 33, 16 * 2**20)  # SO_RCVBUFFORCE
    return sock


class Generator:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ)
        self.clients: dict[int, Client] = {}
        self.deadlines: list[tuple[float, int, int]] = []
        self.result = Result()
        self.xids = int.from_bytes(os.urandom(4), "big")

    def _xid(self) -> int:
        self.xids = (self.xids + 1) & 0xFFFFFFFF
        return self.xids

    def _send(self, client: Client, now: float) -> None:
        options = {opt.MESSAGE_TYPE: bytes((opt.MessageType.DISCOVER,))}
        if client.offered and client.server:
            options = {
                opt.MESSAGE_TYPE: bytes((opt.MessageType.REQUEST,)),
                opt.REQUESTED_IP: opt.ip(client.offered),
                opt.SERVER_ID: client.server,
            }
        options[opt.PARAMETER_LIST] = PARAMETERS
        packet = Packet(
            op=1, xid=client.xid, chaddr=client.mac.ljust(16, b"\0"), flags=FLAG_BROADCAST,
            secs=min(int(now - client.started), 65535), options=options,
        )  # fmt: skip
        self.sock.sendto(build(packet), ("255.255.255.255", 67))
        client.sent = now
        client.attempts += 1
        heapq.heappush(self.deadlines, (now + RESEND_SECONDS, client.xid, client.attempts))

    def start(self, mac: bytes, now: float) -> None:
        client = Client(mac, self._xid(), now)
        self.clients[client.xid] = client
        self._send(client, now)

    def _restart(self, client: Client, now: float) -> None:
        del self.clients[client.xid]
        client.xid, client.offered, client.server, client.attempts = self._xid(), None, None, 0
        self.clients[client.xid] = client
        self._send(client, now)

    def _receive(self, now: float, on_offer: Callable[[Client], None] | None) -> None:
        for reply in dhcp_replies(self.sock):
            self.result.replies[reply.message_type] += 1
            client = self.clients.get(reply.xid)
            if client is None or reply.chaddr[:6] != client.mac:
                continue
            kind = reply.message_type
            if kind == opt.MessageType.OFFER and client.offered is None:
                if on_offer is not None:
                    on_offer(client)
                    continue
                client.offered = reply.yiaddr
                client.server = reply.options.get(opt.SERVER_ID)
                client.attempts = 0
                self._send(client, now)
            elif kind == opt.MessageType.ACK and client.offered == reply.yiaddr:
                del self.clients[client.xid]
                self.result.done += 1
                self.result.latencies.append(now - client.started)
                self.result.bound.setdefault(client.mac, []).append(reply.yiaddr)
            elif kind == opt.MessageType.NAK:
                self.result.naks += 1
                self._restart(client, now)

    def _expire(self, now: float) -> None:
        while self.deadlines and self.deadlines[0][0] <= now:
            _, xid, attempt = heapq.heappop(self.deadlines)
            client = self.clients.get(xid)
            if client is None or client.attempts != attempt:
                continue
            if attempt >= ATTEMPTS:
                del self.clients[xid]
                self.result.lost += 1
            else:
                self.result.resends += 1
                self._send(client, now)

    def _poll(self, now: float, on_offer: Callable[[Client], None] | None = None) -> None:
        wait = 0.01
        if self.deadlines:
            wait = max(0.0, min(wait, self.deadlines[0][0] - now))
        if self.selector.select(wait):
            self._receive(time.perf_counter(), on_offer)
        self._expire(time.perf_counter())

    def dora(self, clients: list[bytes], window: int) -> Result:
        begin = time.perf_counter()
        pending = iter(clients)
        remaining = len(clients)
        while self.result.done + self.result.lost < len(clients):
            now = time.perf_counter()
            while remaining and len(self.clients) < window:
                self.start(next(pending), now)
                remaining -= 1
            self._poll(now)
        self.result.seconds = time.perf_counter() - begin
        return self.result

    def rate(self, clients: list[bytes], per_second: float) -> Result:
        begin = time.perf_counter()
        started = 0
        while self.result.done + self.result.lost < len(clients):
            now = time.perf_counter()
            due = min(len(clients), int((now - begin) * per_second) + 1)
            while started < due:
                self.start(clients[started], now)
                started += 1
            self._poll(now)
        self.result.seconds = time.perf_counter() - begin
        return self.result

    def drain(self, seconds: float) -> None:
        """Go on reading replies for `seconds`: late ones count as seen too."""
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self._poll(time.perf_counter())

    def burst(self, clients: list[bytes], wait: float = 5.0) -> Result:
        begin = time.perf_counter()
        for mac in clients:
            self.start(mac, begin)
        self.deadlines.clear()

        def offered(client: Client) -> None:
            del self.clients[client.xid]
            self.result.done += 1
            self.result.latencies.append(time.perf_counter() - client.started)

        while self.clients and time.perf_counter() - begin < wait:
            self._poll(time.perf_counter(), offered)
        self.result.lost = len(self.clients)
        self.result.seconds = time.perf_counter() - begin
        return self.result


def wait_ready(sock: socket.socket, timeout: float = 30.0) -> None:
    """Until the server answers a DISCOVER (it may still be starting)."""
    probe = Generator(sock)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if probe.burst([b"\x06\x00\x00\x00\x00\x01"], wait=0.5).done:
            return
        probe = Generator(sock)
    raise RuntimeError("the server did not answer a DISCOVER")


def serve(namespace: str) -> None:
    """`--serve NAMESPACE`: bootsvc's DHCP service, as `bootsvc serve` runs
    it in its DHCP child, with its socket opened inside the namespace while
    the process stays in the host's (so PostgreSQL on 127.0.0.1 is reachable)."""
    import signal
    import threading

    from bootsvc.logs import setup_logging
    from bootsvc.serve import dhcp, gcpolicy
    from bootsvc.serve.address import with_advertise_url
    from bootsvc.settings import load_settings

    settings = with_advertise_url(load_settings())
    setup_logging(settings.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    service = dhcp.DhcpService(settings)
    service.load()
    nslab.call_in(namespace, service.server.open)
    gcpolicy.quiet_garbage_collector()
    service.run(stop)
    service.db.dispose()


@contextmanager
def run_bootsvc(server: nslab.Namespace, work: Path, database_url: str) -> Iterator[None]:
    env = dict(os.environ)
    env.update(
        BOOTSVC_DATA_DIR=str(work / "data"),
        BOOTSVC_DATABASE_URL=database_url or f"sqlite:///{work / 'bootsvc.db'}",
        BOOTSVC_ADVERTISE_URL=f"http://{SERVER_IP}:8080",
        BOOTSVC_DHCP_MODE="authoritative",
        BOOTSVC_DHCP_INTERFACE="srv0",
        BOOTSVC_DHCP_SUBNET="10.77.0.0/16",
        BOOTSVC_DHCP_POOL="-".join(POOL),
        BOOTSVC_DHCP_ROUTER=SERVER_IP,
        BOOTSVC_DHCP_DNS=SERVER_IP,
    )
    bootsvc = str(ROOT / ".venv" / "bin" / "bootsvc")
    subprocess.run([bootsvc, "db", "upgrade"], env=env, check=True, capture_output=True)
    log = (work / "bootsvc.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.dhcp_dora", "--serve", server.name],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT,
    )  # fmt: skip
    try:
        yield
    finally:
        nslab.stop_process(process)


@contextmanager
def run_dnsmasq(server: nslab.Namespace, work: Path, _database_url: str) -> Iterator[None]:
    server.popen(
        [
            "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=srv0",
            "--bind-interfaces", "--dhcp-authoritative", "--no-ping",
            f"--dhcp-range={POOL[0]},{POOL[1]},255.255.0.0,1h", "--dhcp-lease-max=100000",
            f"--dhcp-leasefile={work / 'dnsmasq.leases'}", f"--pid-file={work / 'dnsmasq.pid'}",
            f"--dhcp-option=3,{SERVER_IP}", f"--dhcp-option=6,{SERVER_IP}",
        ],
        stdout=subprocess.DEVNULL, stderr=(work / "dnsmasq.log").open("w"),
    )  # fmt: skip
    yield


@contextmanager
def run_kea(server: nslab.Namespace, work: Path, _database_url: str) -> Iterator[None]:
    config = {
        "Dhcp4": {
            "interfaces-config": {"interfaces": ["srv0"], "dhcp-socket-type": "raw"},
            "lease-database": {"type": "memfile", "persist": True, "name": str(work / "kea.csv")},
            "valid-lifetime": 3600,
            "authoritative": True,
            "subnet4": [
                {
                    "id": 1,
                    "subnet": "10.77.0.0/16",
                    "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                    "option-data": [
                        {"name": "routers", "data": SERVER_IP},
                        {"name": "domain-name-servers", "data": SERVER_IP},
                    ],
                }
            ],
            "loggers": [
                {
                    "name": "kea-dhcp4",
                    "severity": "WARN",
                    "output_options": [{"output": str(work / "kea.log")}],
                }
            ],
        }
    }
    path = work / "kea.json"
    path.write_text(json.dumps(config))
    env = dict(os.environ, KEA_LOCKFILE_DIR=str(work), KEA_PIDFILE_DIR=str(work))
    server.popen(["kea-dhcp4", "-c", str(path)], env=env, stdout=subprocess.DEVNULL,
                 stderr=(work / "kea.err").open("w"))  # fmt: skip
    yield


SERVERS = {"bootsvc": run_bootsvc, "dnsmasq": run_dnsmasq, "kea": run_kea}


def bench_one(name: str, args: argparse.Namespace) -> dict[str, dict[str, float | int]]:
    work = Path(tempfile.mkdtemp(prefix=f"dora-{name}-"))
    try:
        with (
            nslab.server_and_client(server_ip=SERVER_IP) as (server, client),
            SERVERS[name](server, work, args.database_url),
        ):
            sock = client.call(client_socket, "cli0")
            try:
                wait_ready(sock)
                n = args.clients
                found = {"dora": Generator(sock).dora(list(macs(1, n)), args.window)}
                if args.rate:
                    found["rate"] = Generator(sock).rate(list(macs(n + 1, n)), args.rate)
                if args.burst:
                    found["burst"] = Generator(sock).burst(list(macs(3 * n, args.burst)))
            finally:
                sock.close()
        return {phase: result.summary() for phase, result in found.items()}
    except Exception:
        for log in sorted(work.glob("*.log")):
            print(f"-- last lines of {log.name}:", *log.read_text().splitlines()[-15:], sep="\n")
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20000)
    parser.add_argument("--window", type=int, default=64, help="DORAs in flight (dora phase)")
    parser.add_argument("--rate", type=float, default=2000, help="new clients a second; 0: skip")
    parser.add_argument("--burst", type=int, default=1000, help="DISCOVERs at once; 0: skip")
    parser.add_argument("--servers", default="bootsvc,dnsmasq,kea")
    parser.add_argument(
        "--database-url", default="", help="bootsvc's database, empty (default: a new SQLite file)"
    )
    parser.add_argument("--serve", metavar="NAMESPACE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    results = {}
    for name in args.servers.split(","):
        print(f"== {name}", flush=True)
        results[name] = bench_one(name, args)
        for phase, summary in results[name].items():
            print(f"{name:8} {phase:6} " + " ".join(f"{k}={v}" for k, v in summary.items()))
    if "bootsvc" in results:
        ours = results["bootsvc"]["dora"]["dora_per_s"]
        for name, found in results.items():
            if name != "bootsvc" and found["dora"]["dora_per_s"]:
                print(f"ratio bootsvc/{name} dora_per_s = {ours / found['dora']['dora_per_s']:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
