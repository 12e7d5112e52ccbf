"""`bootsvc serve` with DHCP, TFTP and two HTTP workers in a network
namespace: real clients (busybox udhcpc, curl over TFTP and HTTP) do known
work, and one scrape of /metrics, answered by either worker, counts exactly
that work, added up over every process. The Grafana dashboard names only
metrics that such a scrape has."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import make_url

from bootsvc.store.db import Database
from tests.support import nslab
from tests.support.scrape import Scrape

SERVER_IP = "10.77.0.1"
HTTP = f"http://{SERVER_IP}:18080"
DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "bootsvc.json"
LOADER = os.urandom(70_000)
# A metric name in a PromQL expression: bootsvc_ and what follows.
METRIC_NAME = re.compile(r"\bbootsvc_[a-z0-9_]+")


@contextmanager
def serving(server: nslab.Namespace, data_dir: Path, database_url: str) -> Iterator[Path]:
    """`bootsvc serve` until the block ends; yields its log file, once DHCP,
    TFTP and HTTP answer."""
    loaders = data_dir / "loaders"
    loaders.mkdir(exist_ok=True)
    (loaders / "undionly.kpxe").write_bytes(LOADER)
    env = dict(
        os.environ,
        BOOTSVC_DATA_DIR=str(data_dir),
        BOOTSVC_DATABASE_URL=database_url,
        BOOTSVC_HTTP_LISTEN=f"{SERVER_IP}:18080",
        BOOTSVC_HTTP_WORKERS="2",
        BOOTSVC_HTTP_THREADS="4",
        BOOTSVC_ADVERTISE_URL=HTTP,
        BOOTSVC_TFTP_LISTEN=f"{SERVER_IP}:69",
        BOOTSVC_LOADER_DIR=str(loaders),
        BOOTSVC_DHCP_SUBNET="10.77.0.0/24",
        BOOTSVC_DHCP_POOL="10.77.0.100-10.77.0.199",
    )
    log = data_dir / "serve.log"
    argv = [sys.executable, "-m", "bootsvc", "serve"]
    argv += ["--dhcp-mode", "authoritative", "--dhcp-interface", "srv0"]
    url = make_url(database_url)
    with contextlib.ExitStack() as stack:
        if url.host in {"127.0.0.1", "localhost"}:
            stack.enter_context(
                nslab.tcp_relay(server, url.port or 5432, (url.host, url.port or 5432))
            )
        with log.open("w") as out:
            process = server.popen(argv, env=env, stderr=out, stdout=out)
        stack.callback(_stop, process, log)
        _wait_until_ready(server, process, log)
        yield log


def _stop(process: subprocess.Popen[str], log: Path) -> None:
    process.terminate()
    process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()


def _wait_until_ready(server: nslab.Namespace, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not all(
        # serve.ready comes after the supervisor's own probes (a TFTP request
        # among them), which must not fall inside the counts under test.
        f"event={name}" in log.read_text()
        for name in ("dhcp.started", "tftp.listening", "serve.ready")
    ) or not _answers(server):
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)


def _answers(server: nslab.Namespace) -> bool:
    probe = subprocess.run(
        server.argv("curl", "-sf", "--max-time", "2", "-o", "/dev/null", f"{HTTP}/metrics"),
        check=False,
    )
    return probe.returncode == 0


def scrape(server: nslab.Namespace) -> Scrape:
    return Scrape(server.sh("curl", "-sSf", "--max-time", "10", f"{HTTP}/metrics"))


def tftp(server: nslab.Namespace, name: str, out: Path) -> int:
    """curl's exit status: 0 when the file came, 68 when TFTP said not found."""
    fetched = subprocess.run(
        server.argv("curl", "-s", "--max-time", "10", "-o", str(out), f"tftp://{SERVER_IP}/{name}"),
        check=False,
    )
    return fetched.returncode


def junk_datagram() -> None:
    with nslab.broadcast_socket("cli0", 68) as sock:
        sock.sendto(b"not a DHCP message", ("255.255.255.255", 67))


@pytest.mark.netns
def test_one_scrape_counts_the_work_of_every_process(
    tmp_path: Path, data_dir: Path, db: Database
) -> None:
    with (
        nslab.server_and_client(SERVER_IP, prefix_length=24) as (server, client),
        serving(server, data_dir, db.url),
    ):
        before = scrape(server)
        client.sh(
            "busybox", "udhcpc", "-i", "cli0", "-f", "-q", "-n", "-t", "3", "-T", "3",
            "-s", "/bin/true",
        )  # fmt: skip
        client.call(junk_datagram)
        assert tftp(server, "undionly.kpxe", tmp_path / "loader") == 0
        assert (tmp_path / "loader").read_bytes() == LOADER
        assert tftp(server, "missing.efi", tmp_path / "missing") != 0
        for _ in range(20):
            server.sh("curl", "-s", "-o", "/dev/null", f"{HTTP}/no/such/page")
        after = scrape(server)
        dashboard_names = set(METRIC_NAME.findall(DASHBOARD.read_text()))
        json.loads(DASHBOARD.read_text())

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    dhcp = "bootsvc_dhcp_messages_total"
    assert grew(dhcp, type="discover", reply="offer", reason="") == 1
    assert grew(dhcp, type="request", reply="ack", reason="") == 1
    assert grew(dhcp, type="invalid", reply="none", reason="malformed") == 1
    assert grew(dhcp) == 3
    assert after.value("bootsvc_dhcp_pool_addresses", network="settings") == 100
    assert after.value("bootsvc_dhcp_leased_addresses", network="settings") == 1

    assert grew("bootsvc_tftp_transfers_total", outcome="sent") == 1
    assert grew("bootsvc_tftp_transfers_total", outcome="refused") == 1
    assert grew("bootsvc_tftp_errors_total", code="file_not_found") == 1
    assert grew("bootsvc_tftp_sent_bytes_total") == len(LOADER)
    assert after.value("bootsvc_tftp_transfers_in_progress") == 0

    requests = "bootsvc_http_requests_total"
    assert grew(requests, route="unmatched", method="GET", status="404") == 20
    assert grew("bootsvc_http_request_duration_seconds_count", route="unmatched") == 20
    assert before.value(requests, route="/metrics", status="200") >= 1

    missing = dashboard_names - after.names()
    assert dashboard_names and not missing, f"the dashboard names metrics no scrape has: {missing}"


@pytest.mark.netns
def test_a_restart_counts_from_zero(tmp_path: Path, data_dir: Path, sqlite_template: Path) -> None:
    """The counts live in files under the data directory, which the next
    `bootsvc serve` empties (the database plays no part: SQLite only)."""
    shutil.copy(sqlite_template, tmp_path / "bootsvc.db")
    with nslab.server_and_client(SERVER_IP, prefix_length=24) as (server, _client):
        for _ in range(2):
            with serving(server, data_dir, f"sqlite:///{tmp_path / 'bootsvc.db'}"):
                assert tftp(server, "undionly.kpxe", tmp_path / "loader") == 0
                counted = scrape(server)
                assert counted.value("bootsvc_tftp_transfers_total", outcome="sent") == 1
