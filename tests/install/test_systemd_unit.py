"""The installed unit under a real systemd: `bootsvc install` in a Debian
container booted with systemd as PID 1, then `systemctl start bootsvc` with
every hardening option of the unit in force, as an admin following the
README would do it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.support import nslab
from tests.support.systemd_container import SystemdContainer

pytestmark = pytest.mark.netns

BOOTSVC = ("/usr/bin/python3", "-m", "bootsvc", "--config", "/etc/bootsvc/bootsvc.toml")
# CAP_NET_BIND_SERVICE (10) and CAP_NET_ADMIN (12), and nothing else.
UNIT_CAPABILITIES = (1 << 10) | (1 << 12)
SETTINGS = """
tftp_listen = "0.0.0.0:69"
dns_listen = "10.77.0.1:53"
dhcp_mode = "authoritative"
dhcp_interface = "srv0"
dhcp_subnet = "10.77.0.0/24"
dhcp_pool = "10.77.0.100-10.77.0.199"
"""


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdContainer]:
    with nslab.server_and_client(prefix_length=24) as (server, _):
        booted = SystemdContainer(server.name, tmp_path_factory.mktemp("systemd"))
        try:
            yield booted
        finally:
            booted.stop()


def _unit(container: SystemdContainer, *properties: str) -> dict[str, str]:
    shown = container.run("systemctl", "show", "bootsvc", *(f"--property={p}" for p in properties))
    return dict(line.split("=", 1) for line in shown.stdout.splitlines())


def _status(path: str, container: SystemdContainer, pid: str) -> dict[str, str]:
    text = container.run("cat", f"/proc/{pid}/{path}").stdout
    return {
        key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())
    }


def test_installed_unit_starts_serves_restarts_and_stops(container: SystemdContainer) -> None:
    container.run(*BOOTSVC, "install")
    config = container.root / "etc/bootsvc/bootsvc.toml"
    config.write_text(config.read_text() + SETTINGS)
    container.run("runuser", "-u", "bootsvc", "--", *BOOTSVC, "db", "upgrade")

    # Type=notify: `systemctl start` returns once bootsvc has sent READY=1.
    container.run("systemctl", "start", "bootsvc")
    unit = _unit(container, "ActiveState", "SubState", "StatusText", "MainPID")
    assert (unit["ActiveState"], unit["SubState"]) == ("active", "running"), unit
    assert unit["StatusText"] == "serving http,rollouts,tftp,dns,dhcp"
    ready = container.run("curl", "-s", "http://127.0.0.1:8080/readyz")
    checks = json.loads(ready.stdout)
    assert checks["status"] == "ready", checks

    # Every process of the unit runs as bootsvc, with the two capabilities only.
    listed = container.run("ps", "-e", "--no-headers", "-o", "pid=,unit=").stdout.splitlines()
    members = [pid for pid, unit in (line.split() for line in listed) if unit == "bootsvc.service"]
    assert len(members) > 3, members
    for pid in members:
        status = _status("status", container, pid)
        uid = status["Uid"].split()[0]
        assert container.run("id", "-nu", uid).stdout.strip() == "bootsvc", status
        assert int(status["CapEff"], 16) & ~UNIT_CAPABILITIES == 0, status
        assert int(status["CapBnd"], 16) == UNIT_CAPABILITIES, status
        assert status["NoNewPrivs"] == "1", status

    # Restart=on-failure: a crash of the supervisor brings a new one up.
    container.run("kill", "-9", unit["MainPID"])
    deadline = time.monotonic() + 60
    while (after := _unit(container, "ActiveState", "SubState", "MainPID", "NRestarts"))[
        "NRestarts"
    ] == "0" or after["SubState"] != "running":
        assert time.monotonic() < deadline, after
        time.sleep(0.5)
    assert after["MainPID"] != unit["MainPID"]
    assert (
        json.loads(container.run("curl", "-s", "http://127.0.0.1:8080/readyz").stdout)["status"]
        == "ready"
    )

    # A stop ends every process of the unit, within the unit's own timeout.
    container.run("systemctl", "stop", "bootsvc")
    stopped = _unit(container, "ActiveState", "Result")
    assert stopped == {"ActiveState": "inactive", "Result": "success"}, stopped
    journal = container.run("journalctl", "-u", "bootsvc", "-o", "cat", "--no-pager").stdout
    assert "Traceback" not in journal
    assert "event=serve.ready" in journal, journal[-2000:]
