"""Network namespaces for tests and benchmarks: created with unique names,
joined by veth pairs, removed afterwards (also when the test fails).

`Namespace.call` runs a function in a thread that has entered the namespace
(setns applies to the calling thread only), so a test can open sockets or
start an in-process server there without a subprocess. Sockets keep their
namespace after the thread ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_serial = itertools.count()

T = TypeVar("T")


def sh(*argv: str) -> str:
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return done.stdout


def unique_name(prefix: str) -> str:
    """Short enough for an interface name (15 characters) as well."""
    return f"{prefix}{os.getpid() % 100000}x{next(_serial)}"


class Namespace:
    def __init__(self, prefix: str) -> None:
        self.name = unique_name(prefix)
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")
        self.processes: list[subprocess.Popen[Any]] = []

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def sh(self, *argv: str) -> str:
        return sh(*self.argv(*argv))

    def ip(self, *argv: str) -> str:
        return sh("ip", "-n", self.name, *argv)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(self.argv(*argv), start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function(*args)` in a thread inside this namespace."""
        return call_in(self.name, function, *args)

    def remove(self) -> None:
        """Stop what we started here (each in its own process group, so that
        its children go too), then the namespace."""
        for process in self.processes:
            _stop_group(process)
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)


def broadcast_socket(interface: str, port: int = 68, timeout: float | None = 3.0) -> socket.socket:
    """A UDP socket on `port` of `interface` that may broadcast, as DHCP
    clients and relays use; open it in the namespace (`Namespace.call`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    sock.bind(("0.0.0.0", port))
    sock.settimeout(timeout)
    return sock


def call_in(name: str, function: Callable[..., T], *args: Any) -> T:
    """Run `function(*args)` in a thread inside network namespace `name`."""
    result: list[T] = []
    failure: list[BaseException] = []

    def inside() -> None:
        handle = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            if _libc.setns(handle, CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"setns {name}: {os.strerror(errno)}")
            result.append(function(*args))
        except BaseException as exc:
            failure.append(exc)
        finally:
            os.close(handle)

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM to a process started in its own session, and its group;
    SIGKILL if it has not gone within `grace` seconds."""
    _stop_group(process, grace)


def _stop_group(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            break
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        if signum == signal.SIGTERM:
            # The leader is gone; what it left behind in its group goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        break


def veth(left: Namespace, left_name: str, right: Namespace, right_name: str) -> None:
    """A veth pair with one end in each namespace, both up."""
    sh(
        "ip", "link", "add", left_name, "netns", left.name, "type", "veth",
        "peer", "name", right_name, "netns", right.name,
    )  # fmt: skip
    left.ip("link", "set", left_name, "up")
    right.ip("link", "set", right_name, "up")


@contextmanager
def namespaces(*prefixes: str) -> Iterator[list[Namespace]]:
    created: list[Namespace] = []
    try:
        for prefix in prefixes:
            created.append(Namespace(prefix))
        yield created
    finally:
        for namespace in created:
            namespace.remove()


@contextmanager
def server_and_client(
    server_ip: str = "10.77.0.1", prefix_length: int = 16
) -> Iterator[tuple[Namespace, Namespace]]:
    """Two namespaces on one veth: the server end `srv0` has `server_ip`,
    the client end `cli0` no address."""
    with namespaces("dhs", "dhc") as (server, client):
        veth(server, "srv0", client, "cli0")
        server.ip("addr", "add", f"{server_ip}/{prefix_length}", "dev", "srv0")
        yield server, client


def _listener(port: int) -> socket.socket:
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)
    return listener


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextmanager
def tcp_relay(namespace: Namespace, port: int, target: tuple[str, int]) -> Iterator[None]:
    """Connections to 127.0.0.1:`port` inside `namespace` go on to `target`
    as seen from the host: how a server in a namespace reaches the host's
    PostgreSQL under the same URL. The listening socket is made inside, the
    onward connections outside."""
    listener = namespace.call(_listener, port)
    stop = threading.Event()
    opened: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                inner, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            inner.settimeout(None)
            outer = socket.create_connection(target)
            opened.extend((inner, outer))
            for ends in ((inner, outer), (outer, inner)):
                threading.Thread(target=_pipe, args=ends, daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield
    finally:
        stop.set()
        acceptor.join()
        listener.close()
        for end in opened:
            end.close()
