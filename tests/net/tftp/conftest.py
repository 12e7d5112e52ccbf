"""A TFTP server on 127.0.0.1 (or another address), an ephemeral port, serving a directory, run in
a thread of the test process; and its log lines, as (event, fields)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bootsvc.net.tftp import DirectorySource, FileSource, TftpServer

FILES = {
    "hello.txt": b"hello from bootsvc\n",
    "empty": b"",
    "three-blocks.bin": secrets.token_bytes(3 * 512),  # ends with an empty block
    "big.bin": secrets.token_bytes(300 * 1024 + 17),
    "sub/inner.bin": secrets.token_bytes(4000),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def tftp_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@contextmanager
def running(
    source: FileSource, address: tuple[str, int] = ("127.0.0.1", 0), **tuning: Any
) -> Iterator[TftpServer]:
    """The server in a thread; on exit, checks that it was still running
    (nothing a test sent stopped it) and that it stops cleanly."""
    server = TftpServer(source, address, **tuning)
    thread = threading.Thread(target=server.serve_forever, name="tftp-test", daemon=True)
    thread.start()
    try:
        yield server
        assert thread.is_alive(), "the server stopped by itself"
    finally:
        server.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert server.sock.fileno() == -1


@pytest.fixture
def server(tftp_root: Path) -> Iterator[TftpServer]:
    with running(DirectorySource(tftp_root), give_up_seconds=3.0) as started:
        yield started


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), dict(getattr(record, "fields", {}))))

    def named(self, *names: str) -> list[dict[str, Any]]:
        return [fields for event, fields in list(self.lines) if event in names]

    def wait(self, *names: str, timeout: float = 2.0) -> list[dict[str, Any]]:
        """The lines of these events, once there is one: the server may log a
        transfer just after its last packet reached the client."""
        deadline = time.monotonic() + timeout
        while not self.named(*names) and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.named(*names)


@pytest.fixture
def tftp_log() -> Iterator[Lines]:
    logger = logging.getLogger("bootsvc.tftp")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
