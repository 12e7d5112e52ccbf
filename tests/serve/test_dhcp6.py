"""The DHCPv6 service in `bootsvc serve`: started only when dhcp6_mode is
set, refused without the settings it needs, and probed for readiness by its
bound port; its settings from the environment are checked and written in
canonical form."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scapy.layers.dhcp6 import DHCP6_Advertise, DHCP6OptBootFileUrl, DHCP6OptIAAddress

from bootsvc.errors import SettingsError
from bootsvc.serve.probes import probes_for
from bootsvc.serve.supervisor import services_for
from bootsvc.settings import DhcpMode, Settings, load_settings
from tests.net.dhcp6.test_dhcp6_server import PXE, solicit
from tests.support.dhcp6stack import client_socket, exchange, ipv6_link, servers_group
from tests.support.scrape import Scrape

V6 = {
    "BOOTSVC_DHCP6_MODE": "authoritative",
    "BOOTSVC_DHCP6_INTERFACE": "eth1",
    "BOOTSVC_DHCP6_SUBNET": "fd00:77:0::/64",
    "BOOTSVC_DHCP6_RANGE": "fd00:77::0100 - fd00:77::01ff",
    "BOOTSVC_DHCP6_DNS": "fd00:77:0::1",
}


def test_dhcp6_starts_only_when_its_mode_is_set(tmp_path: Path) -> None:
    assert "dhcp6" not in services_for(Settings(data_dir=tmp_path))
    settings = load_settings(None, {"data_dir": tmp_path}, V6)
    assert settings.dhcp6_mode is DhcpMode.AUTHORITATIVE
    assert (settings.dhcp6_subnet, settings.dhcp6_range, settings.dhcp6_dns) == (
        "fd00:77::/64",
        "fd00:77::100-fd00:77::1ff",
        "fd00:77::1",
    )
    assert "dhcp6" in services_for(settings) and "dhcp" not in services_for(settings)
    assert "dhcp6" in probes_for(settings, with_http=False)
    proxy = Settings(data_dir=tmp_path, dhcp6_mode=DhcpMode.PROXY, dhcp6_interface="eth1")
    assert "dhcp6" in services_for(proxy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BOOTSVC_DHCP6_INTERFACE": ""}, "dhcp6_mode authoritative needs dhcp6_interface"),
        ({"BOOTSVC_DHCP6_RANGE": ""}, "needs dhcp6_subnet and dhcp6_range"),
        ({"BOOTSVC_DHCP6_RANGE": "fd00:78::1-fd00:78::9"}, "is not inside fd00:77::/64"),
        ({"BOOTSVC_DHCP6_RANGE": "fd00:77::9-fd00:77::1"}, "the first address is after the last"),
        ({"BOOTSVC_DHCP6_RANGE": "fd00:77::9"}, "must be FIRST-LAST"),
        ({"BOOTSVC_DHCP6_SUBNET": "10.0.0.0/24"}, "BOOTSVC_DHCP6_SUBNET"),
        ({"BOOTSVC_DHCP6_DNS": "10.0.0.1"}, "BOOTSVC_DHCP6_DNS"),
    ],
)
def test_bad_dhcp6_settings_are_refused(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(None, {"data_dir": tmp_path}, {**V6, **change})


@pytest.mark.netns
def test_bootsvc_serve_answers_dhcp6(tmp_path: Path) -> None:
    """`bootsvc serve` in a namespace starts its DHCPv6 child, which answers
    a SOLICIT with an address and a boot file URL; curl fetches that URL over
    IPv6 (HTTP listening on [::]); the metrics count the SOLICIT and a junk
    datagram; SIGTERM stops it cleanly."""
    env = dict(
        os.environ,
        BOOTSVC_DATA_DIR=str(tmp_path),
        BOOTSVC_HTTP_LISTEN="[::]:18080",
        BOOTSVC_ADVERTISE_URL="http://10.77.0.1:8080",
        **{**V6, "BOOTSVC_DHCP6_INTERFACE": "srv0"},
    )
    bootsvc = [sys.executable, "-m", "bootsvc"]
    subprocess.run([*bootsvc, "db", "upgrade"], env=env, check=True, capture_output=True)
    with ipv6_link() as (server, client):
        serve = server.popen([*bootsvc, "serve"], env=env, stderr=subprocess.PIPE, text=True)
        sock = client.call(client_socket, "cli0", 1.0)
        try:
            advertise = None
            deadline = time.monotonic() + 30
            while advertise is None and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    ipxe = solicit(77, 7, PXE, ipxe=True)
                    advertise = DHCP6_Advertise(exchange(sock, bytes(ipxe), 77))
        finally:
            sock.close()
        assert advertise is not None
        assert advertise[DHCP6OptIAAddress].addr.startswith("fd00:77::1")
        url = advertise[DHCP6OptBootFileUrl].optdata.decode()
        assert url == "http://[fd00:77::1]:18080/boot.ipxe"
        # The address the server gave, and the on-link route a router
        # advertisement would give.
        address = advertise[DHCP6OptIAAddress].addr
        client.ip("-6", "addr", "add", f"{address}/128", "dev", "cli0", "nodad")
        client.ip("-6", "route", "add", "fd00:77::/64", "dev", "cli0")
        script = client.sh("curl", "-fsS", "--retry", "20", "--retry-connrefused", url)
        assert script.startswith("#!ipxe")
        junk = client.call(client_socket, "cli0", 1.0)
        with junk:
            junk.sendto(b"not a DHCPv6 message", servers_group(junk))
        metrics = "bootsvc_dhcp6_messages_total"
        deadline = time.monotonic() + 10
        while True:
            scraped = Scrape(server.sh("curl", "-fsS", "http://[::1]:18080/metrics"))
            if scraped.value(metrics, type="invalid") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert scraped.value(metrics, type="solicit", reply="advertise") >= 1
        assert scraped.value(metrics, type="invalid", reply="none", reason="malformed") == 1
        serve.terminate()
        _, log = serve.communicate(timeout=30)
    assert serve.returncode == 0
    assert "service=dhcp6" in log and "event=dhcp6.solicit" in log
