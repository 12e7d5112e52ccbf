"""Whether each enabled network service answers, asked from this host the way
a client would. The supervisor waits for all of them before it tells systemd
it is ready, and /readyz asks them again. Each probe returns None when the
service answered, else why not in a few words."""

from __future__ import annotations

import secrets
import socket
import struct
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bootsvc.net.dhcp.server import PXE_PORT, SERVER_PORT
from bootsvc.net.dhcp6.server import SERVER_PORT as DHCP6_SERVER_PORT
from bootsvc.settings import WILDCARD_HOSTS, DhcpMode, Settings, parse_host_port

Probe = Callable[[], str | None]

TIMEOUT_SECONDS = 1.0
# A name no loader directory holds: the TFTP server answers it with an ERROR
# packet, which is all a probe needs to see.
TFTP_PROBE_NAME = b"bootsvc-readiness-probe"
UDP_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


def _reachable(host: str) -> str:
    """Where to send a probe for a server listening on `host`."""
    if host in WILDCARD_HOSTS:
        return "::1" if ":" in host else "127.0.0.1"
    return host


def _udp_exchange(host: str, port: int, datagram: bytes) -> bytes | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT_SECONDS)
        try:
            sock.sendto(datagram, (host, port))
            return sock.recvfrom(2048)[0]
        except OSError:
            return None


def http_probe(listen: str) -> Probe:
    host, port = parse_host_port(listen)
    target = _reachable(host)
    url = (
        f"http://[{target}]:{port}/healthz" if ":" in target else f"http://{target}:{port}/healthz"
    )

    def probe() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            return f"no answer from {url} ({exc})"
        return None if status == 200 else f"{url} answered {status}"

    return probe


def dns_probe(listen: str) -> Probe:
    host, port = parse_host_port(listen)
    target = _reachable(host)

    def probe() -> str | None:
        ident = secrets.randbits(16)
        # A query for the root's SOA: every DNS server answers something.
        query = struct.pack("!6H", ident, 0, 1, 0, 0, 0) + b"\x00" + struct.pack("!2H", 6, 1)
        reply = _udp_exchange(target, port, query)
        if reply is None or len(reply) < 2 or struct.unpack("!H", reply[:2])[0] != ident:
            return f"no DNS answer from {target}:{port}"
        return None

    return probe


def tftp_probe(listen: str) -> Probe:
    host, port = parse_host_port(listen)
    target = _reachable(host)

    def probe() -> str | None:
        request = b"\x00\x01" + TFTP_PROBE_NAME + b"\x00octet\x00"
        if _udp_exchange(target, port, request) is None:
            return f"no TFTP answer from {target}:{port}"
        return None

    return probe


def bound_udp_ports() -> set[int]:
    """The local UDP ports some socket of this network namespace is bound to."""
    ports: set[int] = set()
    for table in UDP_TABLES:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local = line.split()[1]
            ports.add(int(local.rpartition(":")[2], 16))
    return ports


def dhcp_probe(ports: tuple[int, ...]) -> Probe:
    """DHCP's sockets are bound to one interface, which packets sent from this
    host never arrive on: what can be seen from here is that they are bound."""

    def probe() -> str | None:
        missing = [port for port in ports if port not in bound_udp_ports()]
        return f"UDP port {missing[0]} is not bound" if missing else None

    return probe


def probes_for(settings: Settings, with_http: bool = True) -> dict[str, Probe]:
    """A probe for each network service these settings enable (as
    bootsvc.serve.supervisor.services_for starts them)."""
    found: dict[str, Probe] = {}
    if with_http:
        found["http"] = http_probe(settings.http_listen)
    if settings.tftp_listen:
        found["tftp"] = tftp_probe(settings.tftp_listen)
    if settings.dns_listen:
        found["dns"] = dns_probe(settings.dns_listen)
    if settings.dhcp_mode == DhcpMode.AUTHORITATIVE:
        found["dhcp"] = dhcp_probe((SERVER_PORT,))
    elif settings.dhcp_mode == DhcpMode.PROXY:
        found["dhcp"] = dhcp_probe((SERVER_PORT, PXE_PORT))
    if settings.dhcp6_mode in {DhcpMode.AUTHORITATIVE, DhcpMode.PROXY}:
        found["dhcp6"] = dhcp_probe((DHCP6_SERVER_PORT,))
    return found
