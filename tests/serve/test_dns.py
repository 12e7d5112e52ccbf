"""`bootsvc serve` with DNS on port 53 in a network namespace of the test's
own: the CMDB filled through the HTTP API (curl), answers checked with dig,
and Ceph's own client (rados) finding the monitors through SRV."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootsvc.core.dns.records import DnsSite
from bootsvc.errors import SettingsError
from bootsvc.serve.dns import site_for
from bootsvc.serve.supervisor import services_for
from bootsvc.settings import Settings, load_settings, parse_upstream
from tests.support.dnsdig import dig, flags, rcode, records

DOMAIN = "lab.example"
BOOTSVC = str(Path(sys.executable).with_name("bootsvc"))


def test_dns_runs_only_when_dns_listen_is_set(tmp_path: Path) -> None:
    assert "dns" not in services_for(Settings(data_dir=tmp_path))
    assert "dns" in services_for(Settings(data_dir=tmp_path, dns_listen="127.0.0.1:53"))


def test_dns_settings_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "BOOTSVC_DATA_DIR": str(tmp_path),
            "BOOTSVC_DNS_UPSTREAMS": "192.0.2.53, 2001:db8::53, [2001:db8::54]:5353",
            "BOOTSVC_DNS_FORWARD_CLIENTS": "10.20.0.0/22,fd00::/8",
        }
    )
    assert [parse_upstream(item) for item in settings.dns_upstreams] == [
        ("192.0.2.53", 53),
        ("2001:db8::53", 53),
        ("2001:db8::54", 5353),
    ]
    assert settings.dns_forward_clients == ["10.20.0.0/22", "fd00::/8"]
    assert Settings(data_dir=tmp_path).dns_upstreams == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("dns_upstreams", "resolver.example.org"),
        ("dns_upstreams", "192.0.2.53:0"),
        ("dns_forward_clients", "10.0.0.0/33"),
        ("dns_refresh_ms", "-1"),
    ],
)
def test_bad_dns_settings_are_refused(tmp_path: Path, name: str, value: str) -> None:
    environ = {"BOOTSVC_DATA_DIR": str(tmp_path), f"BOOTSVC_{name.upper()}": value}
    with pytest.raises(SettingsError, match=f"BOOTSVC_{name.upper()}"):
        load_settings(environ=environ)


def test_site_publishes_what_the_settings_serve(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        advertise_url="https://boot.lab.example",
        tftp_listen="0.0.0.0:69",
        dns_listen="[::]:5353",
        dns_ttl=30,
    )
    assert site_for(settings) == DnsSite(
        server="boot.lab.example",
        http_port=443,
        http_scheme="https",
        tftp_port=69,
        dns_port=5353,
        ttl=30,
    )


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A namespace with only loopback, whose resolv.conf names 127.0.0.1."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    name = f"bsdns-{secrets.token_hex(4)}"
    etc = Path("/etc/netns") / name
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        etc.mkdir(parents=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(etc, ignore_errors=True)


class Site:
    """bootsvc serving HTTP and DNS inside the namespace."""

    def __init__(self, netns: str, tmp_path: Path) -> None:
        self.inside = ["ip", "netns", "exec", netns]
        config = tmp_path / "bootsvc.toml"
        config.write_text(
            f'data_dir = "{tmp_path / "data"}"\n'
            'advertise_url = "http://10.20.0.1:8080"\n'
            'http_listen = "127.0.0.1:8080"\n'
            'dns_listen = "127.0.0.1:53"\n'
        )
        self.env = {**os.environ, "BOOTSVC_CONFIG": str(config)}
        subprocess.run([BOOTSVC, "db", "upgrade"], env=self.env, check=True, capture_output=True)
        made = subprocess.run(
            [BOOTSVC, "token", "create", "e2e", "--role", "admin"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        self.token = made.stdout.strip()
        self.log = tmp_path / "serve.log"

    def api(self, path: str, body: object) -> dict[str, object]:
        done = subprocess.run(
            [
                *self.inside,
                "curl",
                "-sf",
                "-H",
                f"Authorization: Bearer {self.token}",
                "-H",
                "Content-Type: application/json",
                "--data",
                json.dumps(body),
                f"http://127.0.0.1:8080/api/v1{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        reply: dict[str, object] = json.loads(done.stdout)
        return reply

    def dig(self, *args: str) -> str:
        return dig(53, *args, prefix=self.inside)

    @property
    def serial(self) -> int:
        return int(records(self.dig(DOMAIN, "SOA"))[0][2].split()[2])


def node(hostname: str, ip: str, index: int, roles: list[str] | None = None) -> dict[str, object]:
    return {
        "hostname": hostname,
        "cluster": "lab",
        "roles": roles or ["hypervisor"],
        "interfaces": [{"name": "eth0", "mac": f"52:54:00:aa:00:{index:02x}", "ip": ip}],
    }


@pytest.fixture(scope="module")
def site(netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One bootsvc for the module (starting it takes seconds), with cluster `lab`."""
    running = Site(netns, tmp_path_factory.mktemp("dns-site"))
    with running.log.open("w") as log:
        process = subprocess.Popen(
            [*running.inside, BOOTSVC, "serve"], env=running.env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while "dns.listening" not in running.log.read_text() or not _http_up(running):
            assert process.poll() is None, running.log.read_text()
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        running.api(
            "/clusters",
            {
                "name": "lab",
                "domain": DOMAIN,
                "networks": [{"name": "mgmt", "cidr": "10.20.0.0/22"}],
            },
        )
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, running.log.read_text()


def _http_up(site: Site) -> bool:
    probe = [*site.inside, "curl", "-s", "-o", "/dev/null", "http://127.0.0.1:8080/api/v1/"]
    return subprocess.run(probe, check=False, timeout=10).returncode == 0


@pytest.mark.netns
def test_fleet_dns_follows_the_api(site: Site) -> None:
    site.api("/nodes", node("mon1", "10.20.0.11", 1, ["ceph-mon", "hypervisor"]))
    site.api("/nodes", node("mon2", "10.20.1.12", 2, ["ceph-mon"]))

    assert records(site.dig("mon1.lab.example", "A")) == [("mon1.lab.example.", "A", "10.20.0.11")]
    assert records(site.dig("-x", "10.20.1.12")) == [
        ("12.1.20.10.in-addr.arpa.", "PTR", "mon2.lab.example.")
    ]
    assert records(site.dig("_ceph-mon._tcp.lab.example", "SRV")) == [
        ("_ceph-mon._tcp.lab.example.", "SRV", f"{priority} 0 {port} {host}.lab.example.")
        for host in ["mon1", "mon2"]
        for port, priority in [(6789, 20), (3300, 10)]
    ]
    assert records(site.dig("_http._tcp.lab.example", "SRV")) == [
        ("_http._tcp.lab.example.", "SRV", "0 0 8080 bootsvc.lab.example.")
    ]
    assert records(site.dig("+tcp", "_domain._udp.lab.example", "SRV")) == [
        ("_domain._udp.lab.example.", "SRV", "0 0 53 bootsvc.lab.example.")
    ]
    soa = records(site.dig(DOMAIN, "SOA"))[0][2].split()
    assert soa[:2] == ["bootsvc.lab.example.", "hostmaster.lab.example."]
    assert rcode(site.dig("example.org", "A")) == "REFUSED"

    # A node registered through the API resolves on the very next query.
    before = site.serial
    site.api("/nodes", node("hv3", "10.20.2.13", 3))
    assert records(site.dig("hv3.lab.example", "A")) == [("hv3.lab.example.", "A", "10.20.2.13")]
    assert site.serial > before

    # Ceph's client builds its monitor map from the SRV records.
    monitors = _ceph_monitors(site)
    assert monitors == {"mon1": "10.20.0.11:3300", "mon2": "10.20.1.12:3300"}


@pytest.mark.netns
def test_large_answers_set_tc_over_udp_and_come_whole_over_tcp(site: Site) -> None:
    interfaces = [
        {"name": f"eth{i}", "mac": f"52:54:00:bb:00:{i:02x}", "ip": f"10.30.0.{i + 1}"}
        for i in range(40)
    ]
    site.api("/nodes", {"hostname": "wide", "cluster": "lab", "interfaces": interfaces})
    truncated = site.dig("+ignore", "+noedns", "wide.lab.example", "A")
    assert "tc" in flags(truncated)
    assert records(truncated) == []
    assert len(records(site.dig("+tcp", "wide.lab.example", "A"))) == 40


_MON_LINE = re.compile(r"^\d+: v2:([\d.]+:\d+)/0 mon\.(\S+)$", re.MULTILINE)


def _ceph_monitors(site: Site) -> dict[str, str]:
    """The monitor map `rados` builds (with no mon_host) before it gives up
    connecting to monitors that do not exist."""
    done = subprocess.run(
        [
            *site.inside,
            "rados",
            "--conf",
            "/dev/null",
            "--keyring",
            "/dev/null",
            f"--mon_dns_srv_name=ceph-mon_{DOMAIN}",
            "--client_mount_timeout=2",
            "--debug_monc=10",
            "--log_to_stderr=true",
            "lspools",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return {name: address for address, name in _MON_LINE.findall(done.stderr)}
