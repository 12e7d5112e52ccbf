"""Boot scripts for machines that boot over IPv6, through the HTTP app on
SQLite and PostgreSQL: every URL names the server's IPv6 URL, the kernel
gets its address (bootsvc.ip6), and the node is recognised by the address
bootsvc's DHCPv6 leased to its MAC or, without a lease, its CMDB IPv6
address; its secrets then go to that address. A client seen as
::ffff:a.b.c.d (HTTP on [::], dual stack) is the IPv4 client it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.web.app import create_app
from tests.support import factory

MAC = "52:54:00:aa:66:02"
CMDB_IP6 = "fd00:77::66"
LEASED_IP6 = "fd00:77::1234"
IP4 = "10.0.0.66"
URL6 = "http://[fd00:77::1]:8080"
URL4 = "http://192.0.2.1:8080"


@pytest.fixture
def app6(data_dir: Path, db: Database) -> Flask:
    """A dual-stack server: bootsvc's authoritative DHCPv6 on the IPv6 side."""
    settings = Settings(
        data_dir=data_dir,
        database_url=db.url,
        advertise_url=URL4,
        advertise_url6=URL6,
        http_listen="[::]:8080",
        dhcp6_mode=DhcpMode.AUTHORITATIVE,
        dhcp6_interface="br0",
        dhcp6_subnet="fd00:77::/64",
        dhcp6_range="fd00:77::1000-fd00:77::1fff",
    )
    return create_app(settings, db)


@pytest.fixture
def client6(app6: Flask) -> FlaskClient:
    return app6.test_client()


def _version(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1", cmdline="fetch={{ rootfs_url }}", rootfs=True)


def _get(client: FlaskClient, path: str, ip: str, **query: str) -> str:
    reply = client.get(path, query_string=query, environ_base={"REMOTE_ADDR": ip})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_data(as_text=True)


def _script(client: FlaskClient, ip: str) -> str:
    return _get(client, "/boot/node.ipxe", ip, mac=MAC.replace(":", "-"))


def _hosts(text: str) -> set[str]:
    return set(re.findall(r"https?://[^\s/]+", text))


def test_over_ipv6_the_scripts_name_the_ipv6_url_and_the_cmdb_address(
    client6: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    _version(db, store)
    factory.node(db, hostname="hv6a", interfaces=[{"mac": MAC, "ip": CMDB_IP6}], image="hv=1")
    first = _get(client6, "/boot.ipxe", CMDB_IP6)
    assert f"chain --autofree {URL6}/boot/node.ipxe?" in first
    script = _script(client6, CMDB_IP6)
    assert _hosts(script) == {URL6}, script
    arguments = factory.kernel_arguments(script).split()
    assert f"bootsvc.ip6={CMDB_IP6}/64" in arguments
    assert f"bootsvc.url={URL6}" in arguments
    # The CMDB address is the node's own: it gets its boot token.
    assert factory.boot_token(script)


def test_a_dhcpv6_lease_makes_the_address_the_nodes_own(
    client6: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    """The node is listed with its IPv4 address only; the IPv6 address it
    boots from is the one bootsvc's DHCPv6 leased to its MAC. Its secrets
    go to that address, and nowhere else."""
    _version(db, store)
    factory.node(db, hostname="hv6b", interfaces=[{"mac": MAC, "ip": IP4}], image="hv=1")
    withheld = _script(client6, LEASED_IP6)
    assert "no secrets for this boot" in withheld and "bootsvc.token=" not in withheld
    factory.lease6(db, LEASED_IP6, MAC)
    script = _script(client6, LEASED_IP6)
    assert f"bootsvc.ip6={LEASED_IP6}/64" in factory.kernel_arguments(script).split()
    secrets = re.search(r"initrd --name \S+ (\S+secrets\.cpio\.gz\?token=\S+)", script)
    assert secrets is not None, script
    path = secrets.group(1).removeprefix(URL6)
    assert client6.get(path, environ_base={"REMOTE_ADDR": CMDB_IP6}).status_code == 403
    reply = client6.get(path, environ_base={"REMOTE_ADDR": LEASED_IP6})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    # Another address of the same family is not the node's.
    refused = _script(client6, "fd00:77::99")
    assert "bootsvc.token=" not in refused


def test_an_ipv4_mapped_client_is_the_ipv4_client(
    client6: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    _version(db, store)
    factory.node(
        db,
        hostname="hv6c",
        interfaces=[{"name": "eth0", "mac": MAC, "ip": IP4}],
        image="hv=1",
    )
    script = _script(client6, f"::ffff:{IP4}")
    assert _hosts(script) == {URL4}, script
    assert "bootsvc.ip6=" not in script
    token = factory.boot_token(script)
    report = client6.post(
        f"/boot/report?token={token}",
        json={"mac": MAC, "stage": "up"},
        environ_base={"REMOTE_ADDR": f"::ffff:{IP4}"},
    )
    assert report.status_code == 200, report.get_data(as_text=True)
    assert report.get_json()["node"] == "hv6c"


def test_an_ipv4_lease_does_not_hide_the_nodes_ipv6_address(
    client6: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    """A dual-stack node holds an IPv4 lease and boots over IPv6 from the
    IPv6 address the CMDB lists: each family is checked against its own."""
    _version(db, store)
    factory.node(
        db,
        hostname="hv6d",
        interfaces=[
            {"name": "eth0", "mac": MAC, "ip": IP4},
            {"name": "eth1", "mac": "52:54:00:aa:66:03", "ip": CMDB_IP6},
        ],
        image="hv=1",
    )
    factory.lease(db, IP4, MAC, "10.0.0.0/24")
    assert factory.boot_token(_script(client6, CMDB_IP6))
    assert factory.boot_token(_script(client6, IP4))
