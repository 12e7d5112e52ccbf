"""Real iPXE (QEMU's NIC ROM under SeaBIOS, TCG) boots from bootsvc's TFTP
alone: DHCP (dnsmasq, in a namespace of the test's own) names boot.ipxe on
bootsvc; iPXE fetches it over TFTP, chains to its own script by the MAC in
the path (iPXE leaves a URI's query out of a TFTP request), and fetches the
kernel and initrd by sha256 over TFTP. The test image is no real kernel, so
iPXE stops there, after reporting kernel-loaded over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from bootsvc.core.boot import reports
from bootsvc.store import schema
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
    pytest.mark.skipif(
        not (shutil.which("qemu-system-x86_64") and shutil.which("dnsmasq")),
        reason="needs qemu-system-x86 and dnsmasq",
    ),
]

MAC = "52:54:00:7f:00:01"
SERVER = "10.89.0.1"
# The VM's fixed DHCP address, its own in the CMDB.
VM_IP = "10.89.0.50"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


@contextmanager
def _namespace() -> Iterator[str]:
    """A namespace with a bridge holding a tap for the VM; the bridge has the
    server's address."""
    name = f"bstftp{os.getpid()}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "add", "br0", "type", "bridge")
        _ip("-n", name, "tuntap", "add", "tap0", "mode", "tap")
        _ip("-n", name, "link", "set", "tap0", "master", "br0")
        _ip("-n", name, "addr", "add", f"{SERVER}/24", "dev", "br0")
        for device in ("lo", "br0", "tap0"):
            _ip("-n", name, "link", "set", device, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@contextmanager
def _process(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=env
        )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _prepare(data_dir: Path) -> Database:
    db = Database(f"sqlite:///{data_dir / 'bootsvc.db'}")
    schema.upgrade(db)
    store = ArtifactStore(data_dir)
    factory.version(db, store, "hv", "7")
    factory.promote(db, store, "hv", "7")
    factory.node(db, hostname="vm1", interfaces=[{"mac": MAC, "ip": VM_IP}], image="hv@stable")
    return db


def _stages(db: Database) -> set[str]:
    with db.read() as session:
        return {report.stage for report in reports.recent(session) if report.mac == MAC}


def _serve() -> list[str]:
    return [
        *(sys.executable, "-m", "bootsvc", "serve"),
        *("--http-listen", f"{SERVER}:8080", "--advertise-url", f"http://{SERVER}:8080"),
        *("--tftp-listen", f"{SERVER}:69"),
    ]


def _dhcp(tmp_path: Path) -> list[str]:
    return [
        *("dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root"),
        *("--interface=br0", "--bind-interfaces", "--dhcp-range=10.89.0.50,10.89.0.99"),
        f"--dhcp-host={MAC},{VM_IP}",
        f"--dhcp-boot=boot.ipxe,,{SERVER}",
        f"--dhcp-leasefile={tmp_path / 'leases'}",
        "--pid-file=",
    ]


def _vm() -> list[str]:
    return [
        *("qemu-system-x86_64", "-machine", "accel=tcg", "-m", "256", "-boot", "n"),
        *("-display", "none", "-serial", "mon:stdio", "-no-reboot"),
        *("-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no"),
        *("-device", f"virtio-net-pci,netdev=n0,mac={MAC}"),
    ]


def test_ipxe_boots_over_tftp(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = _prepare(data_dir)
    serve_log = tmp_path / "serve.log"
    env = dict(os.environ, BOOTSVC_DATA_DIR=str(data_dir), BOOTSVC_HTTP_WORKERS="1")
    with ExitStack() as stack:
        inside = ["ip", "netns", "exec", stack.enter_context(_namespace())]
        stack.enter_context(_process([*inside, *_serve()], serve_log, env))
        stack.enter_context(_process([*inside, *_dhcp(tmp_path)], tmp_path / "dnsmasq.log"))
        stack.enter_context(_process([*inside, *_vm()], tmp_path / "vm.log"))
        deadline = time.monotonic() + 180
        while "kernel-loaded" not in _stages(db):
            assert time.monotonic() < deadline, serve_log.read_text()[-3000:]
            time.sleep(1)
    log = [line for line in serve_log.read_text().splitlines() if f"mac={MAC}" in line]
    sent = [line.split("file=")[1].split()[0] for line in log if "event=tftp.sent" in line]
    assert sent[:2] == ["boot.ipxe", "node/52-54-00-7f-00-01.ipxe"], log
    assert any(name.startswith("artifacts/") and name.endswith("/vmlinuz") for name in sent)
    assert any(name.endswith("/initrd0.img") for name in sent)
    assert all("stage=tftp" in line for line in log if "event=tftp.sent" in line)
    assert any("event=boot.script" in line and "version=7" in line for line in log)
    assert {"script", "kernel-loaded"} <= _stages(db)
    db.dispose()
