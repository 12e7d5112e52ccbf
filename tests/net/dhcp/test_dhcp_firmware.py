"""Real firmware takes bootsvc's offer: as ProxyDHCP beside a site's DHCP
server, and as the only DHCP server.

A lab namespace holds a bridge with QEMU's tap device and bootsvc. In proxy
mode dnsmasq, in a namespace of its own on the same bridge, hands out
addresses only. The firmware taking the offer shows in what it does next:
iPXE (QEMU's BIOS NIC ROM) fetches /boot.ipxe over HTTP, edk2 (OVMF's own
PXE) reads the EFI loader over TFTP. Small listeners on the lab side record
those requests; no kernel is booted here.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.db import Database
from tests.support import nslab
from tests.support.dhcpstack import Records, service_in
from tests.support.firmware_vm import qemu_argv

pytestmark = pytest.mark.e2e

LAB_IP = "10.88.0.1"
WAIT_SECONDS = 150


@dataclass
class Requests:
    """What arrived at the lab's TFTP and HTTP ports."""

    seen: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def wait(self, wanted: str, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while wanted not in self.seen:
            assert process.poll() is None, "QEMU stopped"
            assert time.monotonic() < deadline, f"no {wanted!r} in {self.seen}"
            time.sleep(0.5)


def tftp_listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LAB_IP, 69))
    sock.settimeout(0.5)
    return sock


def http_listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LAB_IP, 8080))
    sock.listen(8)
    sock.settimeout(0.5)
    return sock


def record_tftp(sock: socket.socket, requests: Requests) -> None:
    while not requests.stop.is_set():
        try:
            data, _ = sock.recvfrom(2048)
        except TimeoutError:
            continue
        if data[:2] == b"\x00\x01":
            requests.seen.append("tftp " + data[2:].split(b"\0", 1)[0].decode())


def record_http(sock: socket.socket, requests: Requests) -> None:
    while not requests.stop.is_set():
        try:
            connection, _ = sock.accept()
        except TimeoutError:
            continue
        with connection:
            connection.settimeout(2)
            try:
                line = connection.recv(4096).split(b"\r\n", 1)[0].decode()
            except TimeoutError:
                continue
            requests.seen.append("http " + line)
            connection.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")


@dataclass
class Lab:
    namespace: nslab.Namespace
    requests: Requests
    log: Records


def site_dhcp(site: nslab.Namespace, data_dir: Path) -> None:
    """The site's own DHCP server: addresses, no boot options."""
    site.popen(
        [
            "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
            "--interface=site1", "--bind-interfaces",
            "--dhcp-range=10.88.0.100,10.88.0.150,255.255.255.0,1h",
            f"--dhcp-leasefile={data_dir / 'dnsmasq.leases'}",
            f"--pid-file={data_dir / 'dnsmasq.pid'}",
        ],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def lab(db: Database, data_dir: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """`request.param`: "authoritative", or the ProxyDHCP style for UEFI."""
    mode: str = request.param
    with nslab.namespaces("fwl", "fws") as (lab, site):
        lab.ip("link", "add", "br0", "type", "bridge")
        lab.ip("tuntap", "add", "tap0", "mode", "tap")
        lab.ip("link", "set", "tap0", "master", "br0")
        nslab.veth(lab, "site0", site, "site1")
        lab.ip("link", "set", "site0", "master", "br0")
        for device in ("br0", "tap0"):
            lab.ip("link", "set", device, "up")
        lab.ip("addr", "add", f"{LAB_IP}/24", "dev", "br0")
        site.ip("addr", "add", "10.88.0.2/24", "dev", "site1")
        if mode != "authoritative":
            site_dhcp(site, data_dir)
        requests = Requests()
        listeners = [lab.call(tftp_listener), lab.call(http_listener)]
        threads = [
            threading.Thread(target=record, args=(sock, requests), daemon=True)
            for record, sock in zip((record_tftp, record_http), listeners, strict=True)
        ]
        for thread in threads:
            thread.start()
        settings = Settings(
            data_dir=data_dir,
            database_url=db.url,
            advertise_url=f"http://{LAB_IP}:8080",
            dhcp_interface="br0",
            dhcp_mode=DhcpMode.AUTHORITATIVE if mode == "authoritative" else DhcpMode.PROXY,
            dhcp_subnet="10.88.0.0/24",
            dhcp_pool="10.88.0.160-10.88.0.199",
            dhcp_proxy_uefi="pixiecore" if mode == "authoritative" else mode,
        )
        try:
            with service_in(lab, settings, db) as (_service, records):
                yield Lab(lab, requests, records)
        finally:
            requests.stop.set()
            for thread in threads:
                thread.join()
            for sock in listeners:
                sock.close()


def qemu(lab: nslab.Namespace, mac: str, work: Path, *, ovmf: bool) -> subprocess.Popen[bytes]:
    argv = qemu_argv(mac, work, ovmf=ovmf)
    return lab.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("lab", ["pixiecore", "authoritative"], indirect=True)
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_seabios_ipxe(lab: Lab, tmp_path: Path) -> None:
    vm = qemu(lab.namespace, "52:54:00:88:00:01", tmp_path, ovmf=False)
    lab.requests.wait("http GET /boot.ipxe HTTP/1.1", vm)
    offer = lab.log.events("dhcp.discover", reply="offer", firmware="ipxe")
    assert offer and offer[0]["file"] == f"http://{LAB_IP}:8080/boot.ipxe"


@pytest.mark.parametrize("lab", ["pixiecore", "smee", "authoritative"], indirect=True)
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_ovmf_pxe(lab: Lab, tmp_path: Path) -> None:
    vm = qemu(lab.namespace, "52:54:00:88:00:02", tmp_path, ovmf=True)
    lab.requests.wait("tftp snponly.efi", vm)
    offer = lab.log.events("dhcp.discover", reply="offer", firmware="uefi-x86")
    on_4011 = lab.log.events("dhcp.request", port=4011, reply="ack")
    if "note" not in offer[0]:
        # Authoritative: the firmware took our address and the boot file with it.
        acked = lab.log.events("dhcp.request", port=67, reply="ack", firmware="uefi-x86")
        assert acked and acked[0]["ip"].startswith("10.88.0.1") and not on_4011
        return
    # pixiecore: edk2 asks again on port 4011 and boots from that ACK;
    # smee: it takes the file named in the offer (43.6 = 8) directly.
    style = offer[0]["note"].removeprefix("uefi-style=")
    assert (style, bool(on_4011)) in {("pixiecore", True), ("smee", False)}
