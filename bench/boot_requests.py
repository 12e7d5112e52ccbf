"""The control-plane requests of one machine's boot, for N machines, against
the real WSGI application in-process: /boot.ipxe, the node's script, its
overlay, its secrets (with the script's token), the kernel-loaded report and
the up report (with the script's boot token), each from the address bootsvc
leased to the machine. Prints the CPU time of this thread per request kind
and per machine: the server's work without the network, the HTTP server or
other processes (the storm, bench/storm/, measures all of that at once).

The nodes and image are the storm's (no cluster, role hypervisor, hv@stable,
authoritative DHCP with a bound lease for each machine), and unless
`--first-boot` each machine has booted once before (its SSH host keys made).

`--manifest FILE` writes a sha256 per node of what it received (tokens in
scripts masked), to compare two trees on one `--data-dir` (reused when it
holds a database). `--profile FILE` writes cProfile stats of the timed boots.

Run: .venv/bin/python -m bench.boot_requests [--nodes 500] [--profile FILE]
     [--data-dir DIR] [--manifest FILE] [--database-url postgresql+psycopg://...]
Target (issue 16): under 5 ms of server CPU per machine for all of these.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import logging
import pstats
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bench.common import percentiles
from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import NodeRecord
from bootsvc.logs import setup_logging
from bootsvc.serve import gcpolicy
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store import schema
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import DhcpLease, Node
from bootsvc.web.app import create_app
from bootsvc.web.clientaddr import WsgiApp

SERVER = "10.77.0.1"
KINDS = ("boot.ipxe", "script", "overlay", "secrets", "kernel-loaded", "up")
_CHAIN = re.compile(r"^chain (?:--autofree )?(\S+)", re.MULTILINE)
_INITRD = re.compile(r"^initrd --name (\S+) (\S+) \|\| goto (\S+)$", re.MULTILINE)
_REPORT = re.compile(r"^imgfetch --name report (\S+)", re.MULTILINE)
_BOOT_TOKEN = re.compile(r"bootsvc\.token=(\S+)")
_TOKENS = re.compile(r"token=[A-Za-z0-9_-]+")


def mac_of(index: int) -> str:
    return f"52:54:00:{(index >> 16) & 255:02x}:{(index >> 8) & 255:02x}:{index & 255:02x}"


def ip_of(index: int) -> str:
    base = 10 + index
    return f"10.77.{128 + (base >> 8)}.{base & 255}"


def settings_for(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url or f"sqlite:///{data_dir / 'bootsvc.db'}",
        advertise_url=f"http://{SERVER}:8080",
        http_listen=f"{SERVER}:8080",
        dhcp_mode=DhcpMode.AUTHORITATIVE,
        dhcp_interface="srv0",
        dhcp_subnet="10.77.0.0/16",
        dhcp_pool="10.77.128.10-10.77.255.250",
        default_image="hv@stable",
        log_level="warning",
    )


def fill(db: Database, store: ArtifactStore, count: int) -> None:
    """The storm's image (small files) and fleet, and a bound lease per machine."""
    refs = {
        name: store.ingest(io.BytesIO(name.encode() * 4096))
        for name in ("vmlinuz", "initrd.img", "root.squashfs")
    }
    with db.write() as session:
        catalog.add_version(
            session,
            "hv",
            "1",
            catalog.FileRef("vmlinuz", refs["vmlinuz"].sha256, refs["vmlinuz"].size),
            [catalog.FileRef("initrd.img", refs["initrd.img"].sha256, refs["initrd.img"].size)],
            catalog.FileRef("root.squashfs", refs["root.squashfs"].sha256, 1),
            "boot=live fetch={{ rootfs_url }} console=ttyS0",
            "",
            "bench",
        )
    with db.write() as session:
        catalog.promote(session, store, "hv", "1", "stable", "bench")
    records = [
        NodeRecord.model_validate(
            {
                "hostname": f"hv{index:05d}",
                "roles": ["hypervisor"],
                "interfaces": [{"mac": mac_of(index), "ip": ip_of(index)}],
            }
        )
        for index in range(count)
    ]
    now = time.time()
    with db.write() as session:
        cmdb.import_nodes(session, records, "bench")
        session.add_all(
            DhcpLease(
                ip=ip_of(index),
                mac=mac_of(index),
                subnet="10.77.0.0/16",
                state="bound",
                expires=now + 30 * 86400,
                updated=now,
                hostname=f"hv{index:05d}",
            )
            for index in range(count)
        )


class ServerCpu:
    """WSGI middleware: the CPU time of this thread in the application for
    the last request, its body made: the server's share, without the test
    client's work of building the request and reading the answer."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.last = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        begin = time.thread_time()
        body = self.app(environ, start_response)
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        self.last = time.thread_time() - begin
        return [data]


@dataclass
class Cpu:
    """CPU seconds of this thread per request kind, one sample per machine:
    with the test client, and the server's share alone."""

    server: ServerCpu
    by_kind: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    server_by_kind: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def timed(self, kind: str, request: Callable[[], TestResponse]) -> TestResponse:
        begin = time.thread_time()
        answer = request()
        self.by_kind[kind].append(time.thread_time() - begin)
        self.server_by_kind[kind].append(self.server.last)
        if answer.status_code >= 300:
            raise RuntimeError(f"{kind}: HTTP {answer.status_code}: {answer.text[:300]}")
        return answer


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@dataclass(frozen=True)
class Received:
    script: str
    overlay: bytes
    secrets: bytes


def boot(client: FlaskClient, index: int, cpu: Cpu) -> Received:
    """One machine's control-plane requests, as iPXE and the booted system
    make them (bench/storm/firmware.py)."""
    mac = mac_of(index)
    client.environ_base["REMOTE_ADDR"] = ip_of(index)
    first = cpu.timed("boot.ipxe", lambda: client.get("/boot.ipxe")).text
    chained = _CHAIN.search(first)
    assert chained is not None, first
    variables = {
        "${mac:hexhyp}": mac.replace(":", "-"),
        "${uuid}": "",
        "${serial:uristring}": "",
        "${asset:uristring}": "",
        "${buildarch}": "x86_64",
        "${platform}": "efi",
    }
    url = chained.group(1)
    for name, value in variables.items():
        url = url.replace(name, value)
    script = cpu.timed("script", lambda: client.get(_local(url))).text
    files = {name: url for name, url, _label in _INITRD.findall(script)}
    overlay = cpu.timed("overlay", lambda: client.get(_local(files["bootsvc-overlay.cpio.gz"])))
    secrets = cpu.timed("secrets", lambda: client.get(_local(files["bootsvc-secrets.cpio.gz"])))
    report = _REPORT.search(script)
    token = _BOOT_TOKEN.search(script)
    assert report is not None and token is not None, script
    loaded = _local(report.group(1)) + "&stage=kernel-loaded"
    cpu.timed("kernel-loaded", lambda: client.get(loaded))
    body = {"mac": mac, "stage": "up", "details": {}}
    auth = {"Authorization": f"Bearer {token.group(1)}"}
    cpu.timed("up", lambda: client.post("/boot/report", json=body, headers=auth))
    return Received(script, overlay.data, secrets.data)


def manifest_lines(index: int, received: Received) -> list[str]:
    host = f"hv{index:05d}"
    masked = _TOKENS.sub("token=X", received.script).encode()
    return [
        f"{host} {kind} {hashlib.sha256(data).hexdigest()}"
        for kind, data in (
            ("script", masked),
            ("overlay", received.overlay),
            ("secrets", received.secrets),
        )
    ]


def show(cpu: Cpu, machines: int) -> None:
    """Per request kind, with the test client: p50, p99 and mean; then the
    mean of the server's share alone."""
    totals = [0.0, 0.0]
    print(f"{'request':<14} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'server ms':>10}")
    for kind, samples in cpu.by_kind.items():
        ms = [value * 1000 for value in samples]
        cuts = percentiles(ms if len(ms) > 1 else ms * 2)
        served = cpu.server_by_kind[kind]
        totals[0] += sum(samples)
        totals[1] += sum(served)
        means = f"{sum(ms) / len(ms):8.2f} {sum(served) * 1000 / len(served):10.2f}"
        print(f"{kind:<14} {cuts['p50']:8.2f} {cuts['p99']:8.2f} {means}")
    client, server = (total * 1000 / machines for total in totals)
    print(f"{'per machine':<14} {'':>8} {'':>8} {client:8.2f} {server:10.2f}")


def _prepare(args: argparse.Namespace) -> tuple[Settings, Database, bool]:
    """The settings and database, and whether the fleet was there already."""
    if args.data_dir:
        data_dir = Path(args.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="bootsvc-bench-"))
    settings = settings_for(data_dir, args.database_url)
    db = Database(settings.effective_database_url, pool_size=4)
    schema.upgrade(db)
    with db.read() as session:
        present = session.query(Node.id).count()
    if not present:
        fill(db, ArtifactStore(data_dir), args.nodes)
    elif present != args.nodes:
        raise SystemExit(f"{data_dir} holds {present} nodes, not {args.nodes}")
    return settings, db, bool(present)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--first-boot", action="store_true")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--manifest", default="")
    parser.add_argument("--profile", default="", help="write cProfile stats here")
    args = parser.parse_args()
    settings, db, reused = _prepare(args)
    setup_logging(settings.log_level, io.StringIO())
    logging.getLogger("bootsvc").propagate = False
    app = create_app(settings, db)
    server = ServerCpu(app.wsgi_app)
    app.wsgi_app = server  # type: ignore[method-assign]
    client = app.test_client()
    if not args.first_boot and not reused:
        for index in range(args.nodes):
            boot(client, index, Cpu(server))
    gcpolicy.quiet_garbage_collector()
    print(f"{args.nodes} machines on {db.engine.dialect.name}, CPU of the serving thread")
    cpu = Cpu(server)
    lines: list[str] = []
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    for index in range(args.nodes):
        lines += manifest_lines(index, boot(client, index, cpu))
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(40)
    show(cpu, args.nodes)
    if args.manifest:
        Path(args.manifest).write_text("\n".join(lines) + "\n")
    if not args.data_dir:
        shutil.rmtree(settings.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
