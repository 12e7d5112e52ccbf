"""Two boot servers on one segment and one PostgreSQL, and a real machine
between them. The version is imported on server A only; B gets its files
from A by sha256. Both answer DHCP. The machine boots from A (B is frozen
meanwhile), and A is killed once it has handed out the kernel and initrds:
the machine fails to fetch its root, reboots, and comes up from B."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from sqlalchemy import create_engine, make_url, text

from bootsvc.lab.lab import Lab
from bootsvc.lab.qemu import Firmware
from bootsvc.lab.system import clean_environment
from bootsvc.settings import LabDhcpTftp
from tests.e2e.conftest import lab_up, log_lines
from tests.support import nslab

pytestmark = pytest.mark.e2e

HOST = "e2e-two"
MAC = "52:54:00:e2:e0:21"
IMAGE = "busybox-test"
PG_SOCKET_DIR = "/var/run/postgresql"
BOOT_TIMEOUT_SECONDS = 420.0


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """A new PostgreSQL database, reached through the Unix socket: the only
    way into PostgreSQL from a network namespace."""
    admin = os.environ.get(
        "BOOTSVC_TEST_PG_URL", "postgresql+psycopg://bootsvc:bootsvc@127.0.0.1/bootsvc_test"
    )
    name = f"bootsvc_e2e_two_{os.getpid()}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name, host=None, query={"host": PG_SOCKET_DIR})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="module")
def lab_a(
    tmp_path_factory: pytest.TempPathFactory, busybox_test_v1: Path, shared_database: str
) -> Iterator[Lab]:
    yield from lab_up(
        tmp_path_factory, (busybox_test_v1,), LabDhcpTftp.BOOTSVC, "2", database_url=shared_database
    )


@dataclass
class Server:
    """One of the two, by what the test needs of it: its log and its end."""

    name: str
    log: Path
    pid: int

    def events(self, name: str, after: int = 0) -> list[dict[str, str]]:
        """The lines of event `name`, from line `after` of the log on."""
        return [line for line in log_lines(self.log)[after:] if line.get("event") == name]

    def signal(self, signum: signal.Signals) -> None:
        """To the supervisor and every service process it started."""
        os.killpg(self.pid, signum)


def _start_b(lab: Lab, namespace: nslab.Namespace, work: Path) -> tuple[Server, str]:
    """Server B: A's settings and secrets key, but its own address, data
    directory and link, a veth whose other end is on the lab's bridge."""
    network = lab.network
    assert network.netns is not None
    ip = str(next(h for h in network.server.network.hosts() if h != network.server.ip))
    peer = nslab.unique_name("vb")
    nslab.sh(
        "ip", "link", "add", "b0", "netns", namespace.name, "type", "veth",
        "peer", "name", peer, "netns", network.netns,
    )  # fmt: skip
    nslab.sh("ip", "-n", network.netns, "link", "set", peer, "master", network.interface, "up")
    namespace.ip("addr", "add", f"{ip}/{network.server.network.prefixlen}", "dev", "b0")
    namespace.ip("link", "set", "b0", "up")
    values = tomllib.loads(lab.config_file.read_text())
    values.update(
        # Servers that share a database share the key their secrets are sealed with.
        secrets_key_file=str(Path(values["data_dir"]) / "secrets.key"),
        data_dir=str(work / "data"),
        http_listen=f"{ip}:8080",
        advertise_url=f"http://{ip}:8080",
        dhcp_interface="b0",
        tftp_listen=f"{ip}:69",
    )
    config = work / "b.toml"
    config.write_text(tomli_w.dumps(values))
    log = work / "bootsvc-b.log"
    with log.open("wb") as out:
        process = namespace.popen(
            [sys.executable, "-m", "bootsvc", "--config", str(config), "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_environment(),
        )
    deadline = time.monotonic() + 60
    while _get(namespace, f"http://{ip}:8080/readyz") != 200:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    return Server("B", log, process.pid), f"http://{ip}:8080"


def _get(namespace: nslab.Namespace, url: str) -> int:
    argv = namespace.argv("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "60", url)
    return int(subprocess.run(argv, capture_output=True, text=True, check=False).stdout or 0)


def _wait_for_event(server: Server, event: str, deadline: float) -> None:
    while not any(line.get("mac") == MAC for line in server.events(event)):
        assert time.monotonic() < deadline, f"{server.name} never logged {event} for {MAC}"
        time.sleep(0.2)


def test_a_machine_finishes_its_boot_from_the_other_server(lab_a: Lab, tmp_path: Path) -> None:
    lab_a.cli("image", "promote", IMAGE, "1", "--channel", "stable")
    lab_a.cli("node", "add", HOST, "--mac", MAC, "--image", f"{IMAGE}@stable")
    version = json.loads(lab_a.cli("image", "show", IMAGE, "1", "--json"))
    namespace = nslab.Namespace("srvb")
    try:
        b, b_url = _start_b(lab_a, namespace, tmp_path)
        a = Server("A", lab_a.log_path("bootsvc"), lab_a.state.pids["bootsvc"])
        # B serves the version imported on A: it fetches each file from A once.
        for file in version["files"]:
            path = f"/artifacts/{file['sha256']}/{file['name']}"
            assert _get(namespace, b_url + path) == 200, file
        fetched = {line["sha256"] for line in b.events("peer.fetched")}
        assert fetched == {file["sha256"] for file in version["files"]}

        started = time.monotonic()
        deadline = started + BOOT_TIMEOUT_SECONDS
        # B is frozen while the machine powers on, so that it boots from A.
        b.signal(signal.SIGSTOP)
        vm = lab_a.boot(HOST, Firmware.BIOS, MAC)
        # The last file iPXE fetches before it starts the kernel: the
        # machine now needs its server only for its root and its reports.
        _wait_for_event(a, "boot.secrets", deadline)
        a.signal(signal.SIGKILL)
        b.signal(signal.SIGCONT)
        since = len(log_lines(b.log))
        boots = vm.wait_up(max(0.0, deadline - time.monotonic()))
        assert boots, f"{HOST} did not come up from B after A was killed"
        print(f"up from B {time.monotonic() - started:.0f} s after power-on")
        reports = [line for line in b.events("boot.report", since) if line.get("mac") == MAC]
        assert [line["stage"] for line in reports][-1:] == ["up"], reports
        assert any(line.get("mac") == MAC for line in b.events("boot.script", since))
        served = {line["file"] for line in b.events("http.artifact", since)}
        assert served >= {file["name"] for file in version["files"]}, served
    finally:
        namespace.remove()
