"""The receive loop the DHCP and DHCPv6 servers share: one thread reads
non-blocking UDP sockets until told to stop, and hands each datagram on with
the tag its socket was registered under (the DHCP port, say)."""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from bootsvc.logs import event

MAX_DATAGRAM = 65535

Tag = TypeVar("Tag")
Handler = Callable[[bytes, tuple[str, int], Tag], None]


def receive_until(
    stop: threading.Event,
    sockets: Mapping[socket.socket, Tag],
    handle: Handler[Tag],
    log: logging.Logger,
    name: str,
) -> None:
    """Read every datagram waiting on each socket, a quarter second's select
    at a time, until `stop` is set. A failed read is logged as
    `{name}.receive-failed` and the loop goes on."""
    selector = selectors.DefaultSelector()
    for sock, tag in sockets.items():
        selector.register(sock, selectors.EVENT_READ, tag)
    try:
        while not stop.is_set():
            for key, _ in selector.select(0.25):
                _drain(key.fileobj, key.data, handle, log, name)  # type: ignore[arg-type]
    finally:
        selector.close()


def _drain(
    sock: socket.socket, tag: Tag, handle: Handler[Tag], log: logging.Logger, name: str
) -> None:
    while True:
        try:
            data, source = sock.recvfrom(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            event(log, f"{name}.receive-failed", level=logging.WARNING, error=str(exc))
            return
        handle(data, source, tag)
