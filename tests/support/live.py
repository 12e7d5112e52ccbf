"""A real `bootsvc serve` in a subprocess, for tests that need the production
HTTP server rather than Flask's test client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _FromAddress(HTTPAdapter):
    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source: str) -> requests.Session:
    """An HTTP session whose connections come from the loopback address
    `source`, as a node's from its own address."""
    http = requests.Session()
    http.mount("http://", _FromAddress(source))
    return http


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def live_server(
    data_dir: Path,
    database_url: str,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """`prefix` wraps the command (for strace); `env` adds BOOTSVC_* settings."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / f"serve-{port}.log"
    environment = {
        **os.environ,
        "BOOTSVC_DATA_DIR": str(data_dir),
        "BOOTSVC_DATABASE_URL": database_url,
        "BOOTSVC_HTTP_LISTEN": f"127.0.0.1:{port}",
        "BOOTSVC_ADVERTISE_URL": url,
        "BOOTSVC_HTTP_WORKERS": "1",
        "BOOTSVC_HTTP_THREADS": "8",
        **(env or {}),
    }
    command = [*prefix, sys.executable, "-m", "bootsvc", "serve"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    server = LiveServer(url, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bootsvc serve exited:\n{server.log_text()}")
            try:
                requests.get(f"{url}/boot.ipxe", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"bootsvc serve did not start:\n{server.log_text()}"
                    ) from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
