"""sd_notify: the datagram reaches the socket systemd names, abstract or
not, and nothing happens outside systemd."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootsvc.serve.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        path = str(tmp_path / "notify")
        sock.bind(path)
        sock.settimeout(2)
        yield sock, path


def test_ready_reaches_the_socket(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    notifier = Notifier()
    assert "NOTIFY_SOCKET" not in os.environ, "children would inherit it"
    assert notifier.send("READY=1", "STATUS=serving http") is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving http"


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"bootsvc-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert Notifier().send("STOPPING=1") is True
        assert sock.recv(4096) == b"STOPPING=1"


def test_outside_systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert Notifier().send("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert Notifier().send("READY=1") is False
