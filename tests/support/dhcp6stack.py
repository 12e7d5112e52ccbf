"""The DHCPv6 service in a network namespace for tests: a veth link whose
server end has a ULA address, the service running on it with its log lines
counted, and a client socket on the other end that speaks to ff02::1:2."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bootsvc.serve.dhcp6 import Dhcp6Service
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from tests.support import nslab
from tests.support.dhcpstack import Records, serving

SERVER_ADDRESS = "fd00:77::1"
SUBNET = "fd00:77::/64"
RANGE = "fd00:77::100-fd00:77::1ff"
SERVER_PORT = 547
CLIENT_PORT = 546

LAB6_SETTINGS: dict[str, Any] = {
    "advertise_url": "http://10.77.0.1:8080",
    "dhcp6_interface": "srv0",
    "dhcp6_subnet": SUBNET,
    "dhcp6_range": RANGE,
    "dhcp6_dns": SERVER_ADDRESS,
}


@dataclass
class Lab6:
    server: nslab.Namespace
    client: nslab.Namespace
    service: Dhcp6Service
    log: Records


@contextmanager
def ipv6_link() -> Iterator[tuple[nslab.Namespace, nslab.Namespace]]:
    """Two namespaces on one veth: `srv0` with fd00:77::1/64, `cli0` with
    only its link-local address. Duplicate address detection is off, so
    that both addresses are usable at once rather than after a second."""
    with nslab.namespaces("d6s", "d6c") as (server, client):
        for namespace in (server, client):
            for scope in ("all", "default"):
                namespace.sh("sysctl", "-qw", f"net.ipv6.conf.{scope}.accept_dad=0")
        nslab.veth(server, "srv0", client, "cli0")
        server.ip("addr", "add", f"{SERVER_ADDRESS}/64", "dev", "srv0", "nodad")
        _wait_link_local(client, "cli0")
        yield server, client


def _wait_link_local(namespace: nslab.Namespace, interface: str) -> None:
    deadline = time.monotonic() + 10
    while "fe80::" not in namespace.ip("-6", "addr", "show", "dev", interface):
        assert time.monotonic() < deadline, f"{interface} got no link-local address"
        time.sleep(0.05)


@contextmanager
def running_service6(settings: Settings, db: Database) -> Iterator[Lab6]:
    service = Dhcp6Service(settings, db)
    with ipv6_link() as (server, client), serving(server, service, "bootsvc.dhcp6") as log:
        yield Lab6(server, client, service, log)


def client_socket(interface: str = "cli0", timeout: float = 3.0) -> socket.socket:
    """A DHCPv6 client's socket (port 546 of `interface`); open it in the
    client namespace (`Namespace.call`)."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    sock.bind(("::", CLIENT_PORT, 0, socket.if_nametoindex(interface)))
    sock.settimeout(timeout)
    return sock


def servers_group(sock: socket.socket) -> tuple[str, int, int, int]:
    """ff02::1:2 on the link `sock` is bound to."""
    return ("ff02::1:2", SERVER_PORT, 0, sock.getsockname()[3])


def exchange(sock: socket.socket, wire: bytes, transaction_id: int, wait: float = 3.0) -> bytes:
    """Send to the servers' group and return the reply to `transaction_id`."""
    sock.sendto(wire, servers_group(sock))
    deadline = time.monotonic() + wait
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65535)
        if len(data) >= 4 and int.from_bytes(data[1:4], "big") == transaction_id:
            return data
