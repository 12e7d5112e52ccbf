"""`bootsvc serve` under Type=notify: READY=1 reaches the notify socket only
once every enabled network service answers, and STOPPING=1 on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from bootsvc.store.db import Database
from tests.support.live import free_port


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """The socket systemd would hold for the unit, held by the test."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        path = str(tmp_path / "notify")
        sock.bind(path)
        yield sock, path


@contextmanager
def serving(
    data_dir: Path, database_url: str, notify_path: str, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    environment = {
        **os.environ,
        "NOTIFY_SOCKET": notify_path,
        "BOOTSVC_DATA_DIR": str(data_dir),
        "BOOTSVC_DATABASE_URL": database_url,
        "BOOTSVC_HTTP_WORKERS": "1",
        "BOOTSVC_HTTP_THREADS": "4",
        **{f"BOOTSVC_{name.upper()}": value for name, value in settings.items()},
    }
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bootsvc", "serve"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        # The whole group, as systemd stops the unit's cgroup: a killed
        # supervisor leaves its services behind otherwise.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def names_in_session(leader: int) -> set[str]:
    """The names `ps` and `top` show for the processes of this session."""
    names = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(") ", 1)
            if int(rest.split()[3]) == leader:
                names.add(name)
    return names


def receive(sock: socket.socket, seconds: float) -> bytes | None:
    sock.settimeout(seconds)
    try:
        return sock.recv(4096)
    except TimeoutError:
        return None


def test_ready_once_http_and_tftp_answer(
    data_dir: Path, db: Database, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    http, tftp = free_port(), free_port()
    with serving(
        data_dir, db.url, path, http_listen=f"127.0.0.1:{http}", tftp_listen=f"127.0.0.1:{tftp}"
    ) as process:
        message = receive(sock, 60)
        assert message == b"READY=1\nSTATUS=serving http,rollouts,tftp", (
            data_dir / "serve.log"
        ).read_text()
        # Ready means answering now, not soon.
        assert requests.get(f"http://127.0.0.1:{http}/healthz", timeout=2).status_code == 200
        done = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{exitcode}", f"tftp://127.0.0.1:{tftp}/x"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        # 68: curl's "TFTP: file not found", an answer from the server.
        assert done.stdout == "68"
        # An operator tells the services apart in ps and top.
        assert {"bootsvc-http", "bootsvc-rollout", "bootsvc-tftp"} <= names_in_session(process.pid)
        process.send_signal(signal.SIGTERM)
        assert receive(sock, 20) == b"STOPPING=1"
        assert process.wait(30) == 0


def test_no_ready_while_a_service_cannot_answer(
    data_dir: Path, sqlite_template: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    """On SQLite only: what is tested is the wait, not the database."""
    sock, path = notify_socket
    shutil.copy(sqlite_template, data_dir / "bootsvc.db")
    database_url = f"sqlite:///{data_dir / 'bootsvc.db'}"
    http = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        # The DNS port is someone else's: the DNS service cannot start.
        taken.bind(("127.0.0.1", 0))
        dns = taken.getsockname()[1]
        with serving(
            data_dir,
            database_url,
            path,
            http_listen=f"127.0.0.1:{http}",
            dns_listen=f"127.0.0.1:{dns}",
        ):
            deadline = time.monotonic() + 60
            while True:
                try:
                    requests.get(f"http://127.0.0.1:{http}/healthz", timeout=1)
                    break
                except requests.RequestException:
                    assert time.monotonic() < deadline, "HTTP never answered"
                    time.sleep(0.2)
            assert receive(sock, 5) is None
