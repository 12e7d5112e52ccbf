"""The two server stacks a storm runs against, each in a network namespace
of its own joined to the simulator's by a veth pair, on the same files:

- bootsvc: `bootsvc serve` with DHCP (authoritative), TFTP and HTTP, set up
  through its CLI as an admin would (image import, promote, node import);
- reference: dnsmasq for DHCP and TFTP and nginx serving static files, with
  every node's script, overlay and secrets rendered to a file beforehand.

Each yields a `RunningStack`: the CPU seconds its processes have used, and
a restart as `systemctl restart` does one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.storm.firmware import Machine
from tests.support import nslab

SERVER_IP = "10.77.0.1"
SUBNET = "10.77.0.0/16"
# The machines' addresses: local to the simulator's namespace as a whole.
FLEET_RANGE = "10.77.128.0/17"
POOL = ("10.77.128.10", "10.77.255.250")
LOADER_DIR = Path("/usr/lib/ipxe")
ROOT = Path(__file__).resolve().parents[2]


def node_ip(index: int) -> str:
    base = 10 + index
    return f"10.77.{128 + (base >> 8)}.{base & 255}"


def hostname(index: int) -> str:
    return f"hv{index:05d}"


@dataclass(frozen=True)
class Sizes:
    """Bytes of each image file; `scale` says how far they are from the
    real debian-hypervisor image (1.0: about 8, 42 and 260 MB)."""

    kernel: int
    initrd: int
    root: int
    overlay: int = 32 << 10
    secrets: int = 4 << 10

    @classmethod
    def scaled(cls, scale: float) -> Sizes:
        return cls(int(8 * 2**20 * scale), int(42 * 2**20 * scale), int(260 * 2**20 * scale))


@dataclass(frozen=True)
class Image:
    kernel: Path
    initrd: Path
    root: Path
    sizes: Sizes


def write_image(directory: Path, sizes: Sizes) -> Image:
    """Kernel, initrd and squashfs root of the given sizes (random bytes:
    nothing on the way may compress them)."""
    block = os.urandom(1 << 20)
    paths = {}
    for name, size in (
        ("vmlinuz", sizes.kernel),
        ("initrd.img", sizes.initrd),
        ("root.squashfs", sizes.root),
    ):
        paths[name] = directory / name
        with paths[name].open("wb") as out:
            for offset in range(0, size, len(block)):
                out.write(block[: min(len(block), size - offset)])
    return Image(paths["vmlinuz"], paths["initrd.img"], paths["root.squashfs"], sizes)


class RunningStack:
    """A stack's server processes in their namespace, each started by one
    of `starts`; `database_url` is where bootsvc keeps its state."""

    def __init__(
        self,
        server: nslab.Namespace,
        starts: list[Callable[[], subprocess.Popen[bytes]]],
        http_port: int,
        database_url: str | None = None,
    ) -> None:
        self.server = server
        self.starts = starts
        self.http_port = http_port
        self.database_url = database_url
        self.processes = [start() for start in starts]
        # CPU ticks of the processes a restart stopped, by process name.
        self.stopped_cpu: Counter[str] = Counter()

    def cpu_ticks(self) -> Counter[str]:
        """CPU time so far in clock ticks (CLOCK_TICK), by process name
        (bootsvc-http, nginx...), and PostgreSQL's when the stack keeps its
        state there."""
        found = self.stopped_cpu + session_cpu_ticks([p.pid for p in self.processes])
        if self.database_url and self.database_url.startswith("postgresql"):
            found["postgres"] = postgres_cpu_ticks()
        return found

    def stop(self) -> None:
        """As systemd stops bootsvc's unit (TimeoutStopSec=30s)."""
        self.stopped_cpu += session_cpu_ticks([p.pid for p in self.processes])
        for process in self.processes:
            nslab.stop_process(process, grace=30.0)

    def restart(self, timeout: float = 120.0) -> float:
        """Stop every process (SIGTERM, as systemd does), start them again,
        and return the seconds until HTTP accepted connections again."""
        began = time.monotonic()
        self.stop()
        self.processes = [start() for start in self.starts]
        deadline = began + timeout
        while not self.server.call(_accepts, SERVER_IP, self.http_port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"HTTP not back within {timeout:.0f} s of the restart")
            time.sleep(0.1)
        return time.monotonic() - began


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def session_cpu_ticks(leaders: list[int]) -> Counter[str]:
    """CPU time of every process in the sessions these processes lead,
    children they waited for included, by process name."""
    ticks: Counter[str] = Counter()
    for name, fields in _processes():
        if int(fields[3]) in leaders:  # session id
            ticks[name] += _cpu_ticks(fields)
    return ticks


def _stat(pid: str) -> tuple[str, list[str]] | None:
    """A process's name and the fields of /proc/PID/stat after it."""
    try:
        name, rest = (Path("/proc") / pid / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
    except OSError:
        return None
    return name, rest.split()


# Clock ticks a second, the unit of /proc/PID/stat's CPU times.
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(fields: list[str]) -> int:
    """utime, stime, and those of the children it waited for."""
    return sum(int(value) for value in fields[11:15])


def _processes() -> Iterator[tuple[str, list[str]]]:
    for entry in Path("/proc").iterdir():
        found = _stat(entry.name) if entry.name.isdigit() else None
        if found is not None:
            yield found


def postgres_cpu_ticks() -> int:
    """CPU time of the PostgreSQL cluster: its live processes, and through
    the postmaster's children's time the backends that ended. Only the
    benchmark's databases are busy on this machine."""
    return sum(_cpu_ticks(fields) for name, fields in _processes() if name == "postgres")


@contextmanager
def segment() -> Iterator[tuple[nslab.Namespace, nslab.Namespace]]:
    """The server's and the simulator's namespaces. Every address in
    FLEET_RANGE is local to the simulator's side, so each machine sends
    from the address it leased."""
    with nslab.server_and_client(server_ip=SERVER_IP, prefix_length=16) as (server, client):
        client.ip("route", "add", SUBNET, "dev", "cli0")
        client.ip("route", "add", "local", FLEET_RANGE, "dev", "lo", "table", "local")
        yield server, client


def _bootsvc_env(work: Path, database_url: str, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "BOOTSVC_DATA_DIR": str(work / "data"),
        "BOOTSVC_DATABASE_URL": database_url,
        "BOOTSVC_HTTP_LISTEN": f"{SERVER_IP}:8080",
        "BOOTSVC_ADVERTISE_URL": f"http://{SERVER_IP}:8080",
        "BOOTSVC_TFTP_LISTEN": f"{SERVER_IP}:69",
        "BOOTSVC_LOADER_DIR": str(LOADER_DIR),
        "BOOTSVC_DHCP_MODE": "authoritative",
        "BOOTSVC_DHCP_INTERFACE": "srv0",
        "BOOTSVC_DHCP_SUBNET": SUBNET,
        "BOOTSVC_DHCP_POOL": "-".join(POOL),
        "BOOTSVC_DHCP_ROUTER": SERVER_IP,
        "BOOTSVC_DEFAULT_IMAGE": "hv@stable",
        "BOOTSVC_LOG_LEVEL": "warning",
        **extra,
    }


# Several CLI commands in one process: each `bootsvc` start costs seconds.
_ADMIN = """
import json, sys
from bootsvc.cli import cli
for argv in json.loads(sys.argv[1]):
    cli.main(argv, prog_name="bootsvc", standalone_mode=False)
"""


def _admin(env: dict[str, str], *commands: list[str]) -> None:
    argv = [sys.executable, "-c", _ADMIN, json.dumps(commands)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode:
        raise RuntimeError(f"bootsvc {commands}: {done.stderr.strip()[-2000:]}")


def prepare_bootsvc(work: Path, image: Image, fleet: list[Machine], env: dict[str, str]) -> None:
    """What an admin does before the power cut, with bootsvc's CLI: the
    schema, the image at version 1 on channel stable, and the nodes with
    their MACs and addresses."""
    (work / "data").mkdir(parents=True, exist_ok=True)
    rows = ["hostname,mac,ip,roles"]
    rows += [
        f"{hostname(index)},{machine.mac_text},{node_ip(index)},hypervisor"
        for index, machine in enumerate(fleet)
    ]
    (work / "nodes.csv").write_text("\n".join(rows) + "\n")
    _admin(
        env,
        ["db", "upgrade"],
        [
            "image", "import", "--name", "hv", "--version", "1",
            "--kernel", str(image.kernel), "--initrd", str(image.initrd),
            "--rootfs", str(image.root),
            "--cmdline", "boot=live fetch={{ rootfs_url }} console=ttyS0",
        ],
        ["image", "promote", "hv", "1", "--channel", "stable"],
        ["node", "import", str(work / "nodes.csv")],
    )  # fmt: skip


@contextmanager
def bootsvc(
    server: nslab.Namespace,
    work: Path,
    image: Image,
    fleet: list[Machine],
    database_url: str = "",
    settings: dict[str, str] | None = None,
) -> Iterator[RunningStack]:
    database_url = database_url or f"sqlite:///{work / 'data' / 'bootsvc.db'}"
    env = _bootsvc_env(work, database_url, settings or {})
    prepare_bootsvc(work, image, fleet, env)
    with (work / "bootsvc.log").open("ab") as log:

        def serve() -> subprocess.Popen[bytes]:
            return server.popen(
                [sys.executable, "-m", "bootsvc", "serve"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

        running = RunningStack(server, [serve], 8080, database_url)
        try:
            yield running
        finally:
            running.stop()


NGINX_CONF = """
daemon off;
user root root;
worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 8192; }}
http {{
    access_log {work}/nginx-access.log;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75;
    default_type application/octet-stream;
    client_body_temp_path {work}/nginx-body;
    server {{
        listen {ip}:80;
        root {work}/www;
        location = /boot/report {{ return 204; }}
    }}
}}
"""

FIRST_SCRIPT = "#!ipxe\n:fetch\nchain --autofree {url}/nodes/${{mac:hexhyp}}.ipxe || goto retry\nexit\n:retry\nsleep 5\ngoto fetch\n"  # noqa: E501

NODE_SCRIPT = """#!ipxe
set attempt:int32 0
:fetch
kernel --name vmlinuz {url}/vmlinuz {cmdline} || goto retry
initrd --name initrd.img {url}/initrd.img || goto retry
initrd --name overlay.cpio {url}/nodes/{host}/overlay.cpio || goto retry
initrd --name secrets.cpio {url}/nodes/{host}/secrets.cpio || goto retry
imgfetch --name report {url}/boot/report?mac={mac} && imgfree report ||
boot || goto retry
:retry
inc attempt
iseq ${{attempt}} 10 && goto give_up ||
sleep 5
goto fetch
:give_up
reboot
"""


def prepare_reference(work: Path, image: Image, fleet: list[Machine]) -> None:
    """What a site without bootsvc renders before the power cut: one
    script, overlay and secrets file per node, and the DHCP host list."""
    url = f"http://{SERVER_IP}"
    www = work / "www"
    (www / "nodes").mkdir(parents=True)
    for path in (image.kernel, image.initrd, image.root):
        os.link(path, www / path.name)
    (www / "boot.ipxe").write_text(FIRST_SCRIPT.format(url=url))
    hosts = []
    for index, machine in enumerate(fleet):
        host, mac = hostname(index), machine.mac_text
        cmdline = (
            f"boot=live fetch={url}/root.squashfs console=ttyS0 initrd=initrd.img "
            f"initrd=overlay.cpio initrd=secrets.cpio BOOTIF=01-{mac.replace(':', '-')} "
            f"bootsvc.url={url}"
        )
        script = NODE_SCRIPT.format(url=url, host=host, mac=mac, cmdline=cmdline)
        (www / "nodes" / f"{mac.replace(':', '-')}.ipxe").write_text(script)
        (www / "nodes" / host).mkdir()
        (www / "nodes" / host / "overlay.cpio").write_bytes(os.urandom(image.sizes.overlay))
        (www / "nodes" / host / "secrets.cpio").write_bytes(os.urandom(image.sizes.secrets))
        hosts.append(f"{mac},{node_ip(index)},{host}")
    (work / "dhcp-hosts").write_text("\n".join(hosts) + "\n")
    (work / "nginx-body").mkdir()
    conf = NGINX_CONF.format(work=work, ip=SERVER_IP)
    (work / "nginx.conf").write_text(conf)


def _dnsmasq_argv(work: Path) -> list[str]:
    return [
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--user=root",
        "--interface=srv0", "--bind-interfaces", "--dhcp-authoritative", "--no-ping",
        f"--dhcp-range={POOL[0]},{POOL[1]},255.255.0.0,1h", "--dhcp-lease-max=100000",
        f"--dhcp-hostsfile={work / 'dhcp-hosts'}", f"--dhcp-leasefile={work / 'dnsmasq.leases'}",
        f"--dhcp-option=3,{SERVER_IP}", "--dhcp-match=set:ipxe,175",
        "--dhcp-match=set:efi,option:client-arch,7",
        f"--dhcp-boot=tag:!ipxe,tag:!efi,undionly.kpxe,,{SERVER_IP}",
        f"--dhcp-boot=tag:!ipxe,tag:efi,snponly.efi,,{SERVER_IP}",
        f"--dhcp-boot=tag:ipxe,http://{SERVER_IP}/boot.ipxe",
        "--enable-tftp", f"--tftp-root={LOADER_DIR}", "--tftp-max=4096",
        f"--log-facility={work / 'dnsmasq.log'}", "--pid-file=",
    ]  # fmt: skip


@contextmanager
def reference(
    server: nslab.Namespace, work: Path, image: Image, fleet: list[Machine]
) -> Iterator[RunningStack]:
    prepare_reference(work, image, fleet)
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
    argvs = {"dnsmasq": _dnsmasq_argv(work), "nginx": ["nginx", "-c", str(work / "nginx.conf")]}

    def starter(argv: list[str]) -> Callable[[], subprocess.Popen[bytes]]:
        return lambda: server.popen(argv, **quiet)

    running = RunningStack(server, [starter(argv) for argv in argvs.values()], 80)
    try:
        time.sleep(0.5)
        for name, process in zip(argvs, running.processes, strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")
        yield running
    finally:
        running.stop()


def needed_tools() -> list[str]:
    return [tool for tool in ("ip", "dnsmasq", "nginx") if shutil.which(tool) is None]
