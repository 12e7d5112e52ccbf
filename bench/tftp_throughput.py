#!/usr/bin/env python3
"""TFTP throughput of bootsvc against dnsmasq, on the same files, with the
same lock-step client, in the same run.

    sudo .venv/bin/python -m bench.tftp_throughput [--rounds N]

Scenarios (issue 4): 200 concurrent clients each fetching a 1 MiB file at
blksize 1468; 1,000 concurrent clients fetching a 70 KiB file (blksize 1468).
Runs in a network namespace of its own (dnsmasq only serves TFTP on port 69),
alternating the two servers round by round, and prints the median of each
with the ratio bootsvc/dnsmasq of throughput. Needs root and dnsmasq.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.net.tftp.lockstep import Outcome, fetch_all

SCENARIOS = [
    ("200 x 1 MiB", "one-mib.bin", 1 << 20, 200),
    ("1000 x 70 KiB", "seventy-kib.bin", 70 << 10, 1000),
]
OPTIONS = {"blksize": "1468", "tsize": "0"}
ADDRESS = ("127.0.0.1", 69)
NETNS_ENV = "BENCH_TFTP_NETNS"

SERVER_CODE = """
import signal, sys
from pathlib import Path
from bootsvc.logs import setup_logging
from bootsvc.net.tftp import DirectorySource, TftpServer
setup_logging("info")
server = TftpServer(DirectorySource(Path(sys.argv[1])), ("127.0.0.1", 69))
signal.signal(signal.SIGTERM, lambda *_: server.stop())
server.serve_forever()
"""


def _raise_limit() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _cpu_seconds(pid: int) -> float:
    """User and system time of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _running(argv: list[str], log: Path) -> Iterator[Callable[[], float]]:
    """The server, serving; yields a function that reads its CPU time."""
    with log.open("ab") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=sink)
    try:
        _wait_until_serving(process)
        yield lambda: _cpu_seconds(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        probe = fetch_all(ADDRESS, ["probe"], resend_seconds=0.2, give_up_seconds=0.5)
        if not probe.failed:
            return
    raise SystemExit("server did not start serving")


def dnsmasq(root: Path, log: Path) -> list[str]:
    return [
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--user=root",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--enable-tftp",
        f"--tftp-root={root}",
        "--tftp-max=4096",
        f"--log-facility={log}",
        "--pid-file=",
    ]


def bootsvc(root: Path, log: Path) -> list[str]:
    del log
    return [sys.executable, "-c", SERVER_CODE, str(root)]


def _round(
    name: str, argv: list[str], log: Path, file: str, clients: int, digest: str
) -> tuple[Outcome, float]:
    """The outcome, and the CPU seconds the server spent on it."""
    with _running(argv, log) as cpu:
        before = cpu()
        outcome = fetch_all(ADDRESS, [file] * clients, OPTIONS)
        spent = cpu() - before
    bad = [t for t in outcome.transfers if t.done and t.sha256 != digest]
    if bad:
        raise SystemExit(f"{name}: {len(bad)} transfers came back corrupted")
    return outcome, spent


def run(rounds: int) -> None:
    _raise_limit()  # the servers inherit it
    servers: list[tuple[str, Callable[[Path, Path], list[str]]]] = [
        ("dnsmasq", dnsmasq),
        ("bootsvc", bootsvc),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        (root / "probe").write_bytes(b"ok")
        digests = {}
        for _title, file, size, _clients in SCENARIOS:
            data = secrets.token_bytes(size)
            (root / file).write_bytes(data)
            digests[file] = hashlib.sha256(data).hexdigest()
        print(
            f"{'scenario':<16}{'server':<10}{'median s':>10}{'MB/s':>8}"
            f"{'cpu s':>8}{'us/block':>10}{'failed':>8}"
        )
        for title, file, size, clients in SCENARIOS:
            seconds: dict[str, list[float]] = {name: [] for name, _ in servers}
            cpu: dict[str, list[float]] = {name: [] for name, _ in servers}
            failed: dict[str, int] = dict.fromkeys(seconds, 0)
            for _ in range(rounds):
                for name, argv in servers:
                    log = Path(tmp) / f"{name}.log"
                    outcome, spent = _round(
                        name, argv(root, log), log, file, clients, digests[file]
                    )
                    seconds[name].append(outcome.seconds)
                    cpu[name].append(spent)
                    failed[name] += len(outcome.failed)
            blocks = clients * (size // int(OPTIONS["blksize"]) + 1)
            _report(title, clients * size, blocks, seconds, cpu, failed)


def _report(
    title: str,
    total_bytes: int,
    blocks: int,
    seconds: dict[str, list[float]],
    cpu: dict[str, list[float]],
    failed: dict[str, int],
) -> None:
    for name, times in seconds.items():
        median = statistics.median(times)
        rate = total_bytes / median / 1e6
        used = statistics.median(cpu[name])
        per_block = used / blocks * 1e6
        print(
            f"{title:<16}{name:<10}{median:>10.2f}{rate:>8.1f}"
            f"{used:>8.2f}{per_block:>10.1f}{failed[name]:>8}"
        )
    dnsmasq, ours = seconds["dnsmasq"], seconds["bootsvc"]
    ratio = statistics.median(dnsmasq) / statistics.median(ours)
    each = [theirs / mine for theirs, mine in zip(dnsmasq, ours, strict=True)]
    spread = f"rounds {min(each):.2f}-{max(each):.2f}"
    print(f"{title:<16}{'ratio':<10}{ratio:>10.2f}  bootsvc/dnsmasq throughput, {spread}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.environ.get(NETNS_ENV):
        run(args.rounds)
        return
    if os.geteuid() != 0:
        raise SystemExit("needs root (a network namespace of its own)")
    netns = f"tftpbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, **{NETNS_ENV: netns})
        command = ["ip", "netns", "exec", netns, sys.executable, "-m", __spec__.name, *sys.argv[1:]]
        raise SystemExit(subprocess.run(command, env=env, check=False).returncode)
    finally:
        subprocess.run(["ip", "netns", "delete", netns], check=False)


if __name__ == "__main__":
    main()
