"""The capabilities the unit grants are enough: `bootsvc serve`, limited to
the unit's CapabilityBoundingSet, binds DHCP on port 67 of an interface and
TFTP on port 69, adds the neighbour entry that lets a DHCP reply go unicast
(SIOCSARP), and reports READY=1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bootsvc.cli import cli
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import Packet, build
from bootsvc.store import schema
from bootsvc.store.db import Database
from tests.support import nslab

pytestmark = pytest.mark.netns


def unit_capabilities(tmp_path: Path) -> list[str]:
    root = tmp_path / "root"
    result = CliRunner().invoke(cli, ["install", "--root", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for line in (root / "etc/systemd/system/bootsvc.service").read_text().splitlines():
        if line.startswith("CapabilityBoundingSet="):
            return line.partition("=")[2].split()
    raise AssertionError("the unit names no CapabilityBoundingSet")


def only(capabilities: list[str]) -> list[str]:
    """setpriv: run with exactly `capabilities`, as the unit's ambient set
    gives them (root's uid, so that this test's files stay readable)."""
    names = ",".join("+" + name.removeprefix("CAP_").lower() for name in capabilities)
    return [
        "setpriv",
        f"--inh-caps=-all,{names}",
        f"--ambient-caps={names}",
        f"--bounding-set=-all,{names}",
        "--no-new-privs",
    ]


def test_serve_with_the_units_capabilities(tmp_path: Path) -> None:
    capabilities = unit_capabilities(tmp_path)
    data_dir = tmp_path / "data"
    database = Database(f"sqlite:///{data_dir / 'bootsvc.db'}")
    schema.upgrade(database)
    database.dispose()
    env = {
        **os.environ,
        "BOOTSVC_DATA_DIR": str(data_dir),
        "BOOTSVC_HTTP_LISTEN": "127.0.0.1:8080",
        "BOOTSVC_HTTP_WORKERS": "1",
        "BOOTSVC_TFTP_LISTEN": "0.0.0.0:69",
        "BOOTSVC_DHCP_MODE": "authoritative",
        "BOOTSVC_DHCP_INTERFACE": "srv0",
        "BOOTSVC_DHCP_SUBNET": "10.77.0.0/24",
        "BOOTSVC_DHCP_POOL": "10.77.0.100-10.77.0.199",
        "NOTIFY_SOCKET": str(tmp_path / "notify"),
    }
    log_path = tmp_path / "serve.log"
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify,
        nslab.server_and_client(prefix_length=24) as (server, client),
        log_path.open("wb") as log,
    ):
        notify.bind(env["NOTIFY_SOCKET"])
        notify.settimeout(90)
        server.popen(
            [*only(capabilities), sys.executable, "-m", "bootsvc", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ready = notify.recv(4096)
        except TimeoutError:
            pytest.fail(f"no READY=1:\n{log_path.read_text()}")
        assert ready == b"READY=1\nSTATUS=serving http,rollouts,tftp,dhcp"
        sock = client.call(nslab.broadcast_socket, "cli0", 68, 1.0)
        with sock:
            # No broadcast flag: RFC 2131 wants the OFFER unicast to the
            # address offered, which takes the neighbour entry (CAP_NET_ADMIN).
            discover = Packet(
                op=1, xid=78, chaddr=bytes.fromhex("020000007878") + bytes(10),
                options={opt.MESSAGE_TYPE: b"\x01"},
            )  # fmt: skip
            deadline = time.monotonic() + 30
            while "event=dhcp.discover" not in log_path.read_text():
                assert time.monotonic() < deadline, log_path.read_text()
                sock.sendto(build(discover), ("255.255.255.255", 67))
                time.sleep(0.5)
        answered = [
            line for line in log_path.read_text().splitlines() if "event=dhcp.discover" in line
        ]
        assert "reply=offer" in answered[0] and " to=10.77.0.1" in answered[0], answered[0]
        curl = server.argv("curl", "-s", "-o", "/dev/null", "tftp://127.0.0.1/x")
        # 68: curl's "TFTP file not found", an answer from port 69.
        assert subprocess.run(curl, check=False, timeout=30).returncode == 68
