"""DNS queries per second: bootsvc against dnsmasq, the same 1,000 names, in
the same run, measured by dnsperf over loopback.

Each server is measured three ways: flat out (dnsperf's default of 100
queries outstanding, for the most it can answer); at a fixed offered rate
(latency under the target load, where a queue does not hide it); and flat out
with every name in random letter case, so that nearly every query differs
from all before it and bootsvc cannot answer from its cache of packed replies.
Latency percentiles come from dnsperf's per-query output (-v); CPU per query
from /proc, which, unlike qps, does not depend on what else the machine runs.

    .venv/bin/python -m bench.dns_qps [--seconds 10] [--rate 10000] [--rounds 3]

Needs dnsperf and dnsmasq (Debian: dnsperf, dnsmasq-base).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dnslib import DNSRecord

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, NodeRecord
from bootsvc.net.dns import bind_sockets
from bootsvc.store import schema
from bootsvc.store.db import Database

NODES = 1000
DOMAIN = "bench.example"
BOOTSVC = str(Path(sys.executable).with_name("bootsvc"))


def address(index: int) -> str:
    return f"10.40.{index // 250}.{index % 250 + 1}"


def fill_cmdb(url: str) -> None:
    db = Database(url)
    schema.upgrade(db)
    records = [
        NodeRecord.model_validate(
            {
                "hostname": f"host{index:04d}",
                "cluster": "bench",
                "interfaces": [
                    {
                        "mac": f"52:54:00:40:{index // 256:02x}:{index % 256:02x}",
                        "ip": address(index),
                    }
                ],
            }
        )
        for index in range(NODES)
    ]
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name="bench", domain=DOMAIN), "bench")
        cmdb.import_nodes(session, records, "bench")
    db.dispose()


def free_port() -> int:
    """A port free for both UDP and TCP on loopback."""
    udp, tcp = bind_sockets("127.0.0.1", 0)
    port: int = udp.getsockname()[1]
    udp.close()
    tcp.close()
    return port


def answers(port: int, name: str) -> bool:
    query = DNSRecord.question(name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.sendto(bytes(query.pack()), ("127.0.0.1", port))
            return bool(DNSRecord.parse(probe.recv(4096)).rr)
        except OSError:
            return False


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and all its descendants, from
    /proc: unlike qps and latency, it does not depend on what else runs."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


@contextmanager
def running(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[int]:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not answers(port, f"host0000.{DOMAIN}"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{argv[0]} did not start answering on port {port}")
            time.sleep(0.2)
        yield process.pid
    finally:
        process.terminate()
        process.wait(30)


@dataclass
class Result:
    qps: float
    sent: int
    lost: int
    average_ms: float
    p99_ms: float
    max_ms: float
    cpu_us: float = 0.0


def dnsperf(port: int, pid: int, queries: Path, seconds: int, rate: int | None) -> Result:
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
    argv += ["-l", str(seconds), "-v"] + (["-Q", str(rate)] if rate else [])
    cpu_before = cpu_seconds(pid)
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before
    latencies = sorted(
        float(line.rsplit(None, 1)[1]) for line in output.splitlines() if line.startswith("> ")
    )

    def number(label: str) -> float:
        match = re.search(rf"{label}:\s+([\d.]+)", output)
        if match is None:
            raise SystemExit(f"dnsperf printed no {label!r}:\n{output[-2000:]}")
        return float(match.group(1))

    completed = number("Queries completed")
    return Result(
        qps=number("Queries per second"),
        sent=int(number("Queries sent")),
        lost=int(number("Queries lost")),
        average_ms=number("Average Latency \\(s\\)") * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        max_ms=latencies[-1] * 1000 if latencies else float("nan"),
        cpu_us=cpu / completed * 1e6 if completed else float("nan"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=10_000, help="offered qps for the latency run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        work.chmod(0o755)  # dnsmasq reads its hosts file as user nobody
        url = f"sqlite:///{work / 'bootsvc.db'}"
        fill_cmdb(url)
        queries = work / "queries.txt"
        queries.write_text("".join(f"host{i:04d}.{DOMAIN} A\n" for i in range(NODES)))
        mixed = work / "mixed-case.txt"
        rng = random.Random(7)
        mixed.write_text(
            "".join(
                "".join(rng.choice([ch, ch.upper()]) for ch in f"host{i % NODES:04d}.{DOMAIN}")
                + " A\n"
                for i in range(300 * NODES)
            )
        )
        hosts = work / "hosts"
        hosts.write_text("".join(f"{address(i)} host{i:04d}.{DOMAIN}\n" for i in range(NODES)))
        config = work / "bootsvc.toml"
        config.write_text(f'data_dir = "{work}"\ndatabase_url = "{url}"\n')

        bootsvc_port, dnsmasq_port = free_port(), free_port()
        bootsvc = [
            BOOTSVC,
            "serve",
            "--dns-listen",
            f"127.0.0.1:{bootsvc_port}",
            "--http-listen",
            f"127.0.0.1:{free_port()}",
        ]
        dnsmasq = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            f"--port={dnsmasq_port}",
            f"--addn-hosts={hosts}",
            "--pid-file=",
        ]

        loads: dict[str, tuple[Path, int | None]] = {
            "flat out": (queries, None),
            f"{args.rate} qps": (queries, args.rate),
            "uncached": (mixed, None),
        }
        runs: dict[tuple[str, str], list[Result]] = {}
        env = {**os.environ, "BOOTSVC_CONFIG": str(config)}
        with (
            running(bootsvc, bootsvc_port, env) as bootsvc_pid,
            running(dnsmasq, dnsmasq_port) as dnsmasq_pid,
        ):
            servers = {
                "bootsvc": (bootsvc_port, bootsvc_pid),
                "dnsmasq": (dnsmasq_port, dnsmasq_pid),
            }
            # Alternate the servers, so that whatever else the machine does
            # falls on both alike.
            for _round in range(args.rounds):
                for load, (names, rate) in loads.items():
                    for name, (port, pid) in servers.items():
                        result = dnsperf(port, pid, names, args.seconds, rate)
                        runs.setdefault((name, load), []).append(result)
    report(runs, args)


def report(runs: dict[tuple[str, str], list[Result]], args: argparse.Namespace) -> None:
    print(
        f"{NODES} names, {args.rounds} rounds of {args.seconds} s per server and load, "
        f"dnsperf over loopback, {os.cpu_count()} cores; the median round by qps, "
        "lost summed over all rounds"
    )
    print(
        f"{'server':8} {'load':>10} {'qps':>9} {'lost':>5} {'avg ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'CPU us/q':>8}  qps of every round"
    )
    median: dict[tuple[str, str], Result] = {}
    for (name, load), results in runs.items():
        ordered = sorted(results, key=lambda r: r.qps)
        r = median[name, load] = ordered[len(ordered) // 2]
        lost = sum(item.lost for item in results)
        every = " ".join(f"{item.qps:.0f}" for item in results)
        print(
            f"{name:8} {load:>10} {r.qps:9.0f} {lost:5d} {r.average_ms:7.3f} "
            f"{r.p99_ms:7.3f} {r.max_ms:7.3f} {r.cpu_us:8.1f}  {every}"
        )
    ratio = median["bootsvc", "flat out"].qps / median["dnsmasq", "flat out"].qps
    print(f"bootsvc/dnsmasq qps ratio (flat out, medians): {ratio:.2f}")
    cpu = median["bootsvc", "flat out"].cpu_us / median["dnsmasq", "flat out"].cpu_us
    print(f"bootsvc/dnsmasq CPU per query (flat out, medians): {cpu:.1f}")


if __name__ == "__main__":
    main()
