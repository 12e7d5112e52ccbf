"""The DHCP service starts only when a DHCP mode is set, and its settings
are checked when they are read."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootsvc.errors import SettingsError
from bootsvc.net.dhcp import options as opt
from bootsvc.net.dhcp.codec import FLAG_BROADCAST, Packet, build, parse
from bootsvc.serve.supervisor import services_for
from bootsvc.settings import DhcpMode, Settings, load_settings
from tests.support import nslab


@pytest.mark.parametrize(
    ("mode", "started"),
    [(None, False), (DhcpMode.OFF, False), (DhcpMode.AUTHORITATIVE, True), (DhcpMode.PROXY, True)],
)
def test_dhcp_child_only_when_enabled(tmp_path: Path, mode: DhcpMode | None, started: bool) -> None:
    settings = Settings(data_dir=tmp_path, dhcp_mode=mode, dhcp_interface="eth0")
    assert ("dhcp" in services_for(settings)) is started


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BOOTSVC_DHCP_MODE": "authoritative"}, "needs dhcp_interface"),
        ({"BOOTSVC_DHCP_SUBNET": "10.0.0.0/33"}, "BOOTSVC_DHCP_SUBNET"),
        ({"BOOTSVC_DHCP_POOL": "10.0.0.9-10.0.0.1", "BOOTSVC_DHCP_SUBNET": "10.0.0.0/24"}, "after"),
        (
            {"BOOTSVC_DHCP_POOL": "10.0.1.1-10.0.1.9", "BOOTSVC_DHCP_SUBNET": "10.0.0.0/24"},
            "inside",
        ),
        ({"BOOTSVC_DHCP_DNS": "10.0.0.1,nameserver"}, "BOOTSVC_DHCP_DNS"),
        ({"BOOTSVC_DHCP_PROXY_UEFI": "pixiecore,7=ipxe"}, "ProxyDHCP style"),
        ({"BOOTSVC_UEFI_LOADER": "grub.efi"}, "snponly.efi or ipxe.efi"),
    ],
)
def test_bad_dhcp_settings(tmp_path: Path, environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ={"BOOTSVC_DATA_DIR": str(tmp_path), **environ})


def test_dhcp_settings_normalised(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "BOOTSVC_DATA_DIR": str(tmp_path),
            "BOOTSVC_DHCP_DNS": " 10.0.0.1, 10.0.0.2 ",
            "BOOTSVC_DHCP_POOL": "10.0.0.100 - 10.0.0.150",
            "BOOTSVC_DHCP_SUBNET": "10.0.0.0/24",
        }
    )
    assert (settings.dhcp_dns, settings.dhcp_pool) == ("10.0.0.1,10.0.0.2", "10.0.0.100-10.0.0.150")


@pytest.mark.netns
def test_bootsvc_serve_answers_dhcp(tmp_path: Path) -> None:
    """`bootsvc serve` in a namespace starts its DHCP child, which answers a
    DISCOVER; SIGTERM stops everything cleanly."""
    env = dict(
        os.environ,
        BOOTSVC_DATA_DIR=str(tmp_path),
        BOOTSVC_HTTP_LISTEN="127.0.0.1:18080",
        BOOTSVC_ADVERTISE_URL="http://10.77.0.1:8080",
        BOOTSVC_DHCP_SUBNET="10.77.0.0/24",
        BOOTSVC_DHCP_POOL="10.77.0.100-10.77.0.199",
    )
    bootsvc = [sys.executable, "-m", "bootsvc"]
    subprocess.run([*bootsvc, "db", "upgrade"], env=env, check=True, capture_output=True)
    with nslab.server_and_client(prefix_length=24) as (server, client):
        serve = server.popen(
            [*bootsvc, "serve", "--dhcp-mode", "authoritative", "--dhcp-interface", "srv0"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        sock = client.call(nslab.broadcast_socket, "cli0", 68, 1.0)
        try:
            discover = Packet(
                op=1, xid=77, chaddr=bytes.fromhex("020000007777") + bytes(10),
                flags=FLAG_BROADCAST, options={opt.MESSAGE_TYPE: b"\x01"},
            )  # fmt: skip
            offer = None
            deadline = time.monotonic() + 30
            while offer is None and time.monotonic() < deadline:
                sock.sendto(build(discover), ("255.255.255.255", 67))
                with contextlib.suppress(TimeoutError):
                    reply = parse(sock.recv(4096))
                    offer = reply if reply.xid == 77 else None
        finally:
            sock.close()
        assert offer is not None and offer.message_type == opt.MessageType.OFFER
        assert offer.yiaddr.startswith("10.77.0.1")
        serve.terminate()
        _, log = serve.communicate(timeout=30)
    assert serve.returncode == 0
    assert "service=dhcp" in log and "event=dhcp.discover" in log
