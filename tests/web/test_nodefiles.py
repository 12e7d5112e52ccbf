"""A booting node's files over HTTP: the overlay its script loads, its
secrets (once, to it alone), the same files as cloud-init NoCloud, and the
config preview in the API."""

from __future__ import annotations

import gzip
import logging
import re
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import MetaData, select, update

from bootsvc.core.cmdb import cmdb
from bootsvc.core.dhcp import leases
from bootsvc.core.dhcp.leases import Lease
from bootsvc.core.nodeconfig import cpio
from bootsvc.core.nodeconfig.files import NodeFile
from bootsvc.logs import LogfmtFormatter
from bootsvc.settings import DhcpMode, Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND, RELEASED
from bootsvc.store.models import SecretToken
from bootsvc.store.types import utcnow
from bootsvc.web.app import create_app
from tests.support import factory, nodeclusters

BASE = "http://192.0.2.1:8080"
NODES = {
    "pair1": (nodeclusters.mac(0x11, 0), "10.1.0.11"),
    "pair2": (nodeclusters.mac(0x12, 0), "10.1.0.12"),
}


@pytest.fixture
def pair(db: Database, store: ArtifactStore) -> None:
    nodeclusters.two_node_cluster(db)
    factory.version(db, store, "hv", "1")
    for hostname, (mac, _ip) in NODES.items():
        factory.node(db, hostname=hostname, interfaces=[{"mac": mac}], image="hv=1")


def boot_script(client: FlaskClient, hostname: str, ip: str | None = None) -> dict[str, str]:
    """The node's script, as iPXE gets it; its initrd URLs by name."""
    mac, own_ip = NODES[hostname]
    reply = client.get(
        "/boot/node.ipxe", query_string={"mac": mac}, environ_base={"REMOTE_ADDR": ip or own_ip}
    )
    assert reply.status_code == 200
    text = reply.get_data(as_text=True)
    found = dict(re.findall(r"^initrd --name (\S+) (\S+) \|\|", text, re.MULTILINE))
    kernel = next(line for line in text.splitlines() if line.startswith("kernel "))
    assert "initrd=bootsvc-overlay.cpio.gz initrd=bootsvc-secrets.cpio.gz" in kernel
    return {name: url.removeprefix(BASE) for name, url in found.items()}


def fetch(client: FlaskClient, url: str, ip: str) -> Any:
    return client.get(url, environ_base={"REMOTE_ADDR": ip})


def unpacked(body: bytes) -> dict[str, NodeFile]:
    return {f.path: f for f in cpio.unpack(body)}


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.fields["reason"]  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "boot.secrets_refused"
    ]


@pytest.mark.usefixtures("pair")
def test_overlay_is_served_and_kept_for_diff(
    client: FlaskClient, auth: dict[str, dict[str, Any]], db: Database
) -> None:
    urls = boot_script(client, "pair1")
    reply = fetch(client, urls["bootsvc-overlay.cpio.gz"], "10.1.0.11")
    assert reply.status_code == 200 and reply.mimetype == "application/gzip"
    assert int(reply.headers["Content-Length"]) == len(reply.data)
    files = unpacked(reply.data)
    assert files["/etc/hostname"].content == b"pair1\n"
    assert b"BOOTSVC_VERSION=1\n" in files["/etc/bootsvc/boot.env"].content
    reader = auth["reader"]
    diff = client.get("/api/v1/nodes/pair1/config/diff", headers=reader).get_json()
    assert diff["changed"] is False and diff["served_version"] == "1"
    with db.write() as session:
        cmdb.patch_cluster(
            session, "pair", factory.ACTOR, settings={"corosync": {"token_ms": 9000}}
        )
    diff = client.get("/api/v1/nodes/pair1/config/diff", headers=reader).get_json()
    assert diff["changed"] is True
    assert "-    token: 5000\n+    token: 9000\n" in diff["diff"]


@pytest.mark.usefixtures("pair")
def test_secrets_go_once_to_their_own_node(
    client: FlaskClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.http")
    mine = boot_script(client, "pair1")["bootsvc-secrets.cpio.gz"]
    theirs = boot_script(client, "pair2")["bootsvc-secrets.cpio.gz"]
    path = mine.split("?token=")[0]
    cases = [
        (path, "10.1.0.11", "no token"),
        (f"{path}?token=forged", "10.1.0.11", "unknown, spent or replaced token"),
        (f"{path}?token={theirs.split('?token=')[1]}", "10.1.0.11", "token of another node"),
        (mine, "10.1.0.99", "request from another address than the one the script went to"),
    ]
    for url, ip, reason in cases:
        assert fetch(client, url, ip).status_code == 403, reason
    assert refusals(caplog) == [reason for _url, _ip, reason in cases]
    served = fetch(client, mine, "10.1.0.11")
    assert served.status_code == 200
    files = unpacked(served.data)
    assert files["/etc/corosync/authkey"].mode == 0o400
    assert files["/etc/ssh/ssh_host_ed25519_key"].mode == 0o600
    assert fetch(client, mine, "10.1.0.11").status_code == 403
    assert refusals(caplog)[-1] == "unknown, spent or replaced token"
    fresh = boot_script(client, "pair1")["bootsvc-secrets.cpio.gz"]
    with db.write() as session:
        session.execute(update(SecretToken).values(expires_at=utcnow()))
    assert fetch(client, fresh, "10.1.0.11").status_code == 403
    assert refusals(caplog)[-1] == "token expired"
    ok = [r for r in caplog.records if r.getMessage() == "boot.secrets"]
    fields = ok[0].fields  # type: ignore[attr-defined]
    assert (fields["mac"], fields["ip"], fields["stage"]) == (
        NODES["pair1"][0],
        "10.1.0.11",
        "secrets",
    )


@pytest.mark.usefixtures("pair")
def test_a_server_with_another_secrets_key_says_so_and_gives_nothing(
    client: FlaskClient, settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A second server on the same database whose secrets_key_file is not
    the first one's: not ready, and a node asking it gets a 503 to retry on,
    never a wrong file, and its next script from a good server works."""
    caplog.set_level(logging.INFO, "bootsvc.http")
    first = boot_script(client, "pair1")["bootsvc-secrets.cpio.gz"]
    assert fetch(client, first, "10.1.0.11").status_code == 200
    other = settings.model_copy(update={"secrets_key_file": settings.data_dir / "other.key"})
    second = create_app(other, db).test_client()
    ready = second.get("/readyz")
    assert ready.status_code == 503 and ready.json is not None
    assert "does not open with this secrets key" in ready.json["checks"]["secrets_key"]
    url = boot_script(second, "pair1")["bootsvc-secrets.cpio.gz"]
    reply = fetch(second, url, "10.1.0.11")
    assert reply.status_code == 503 and reply.json["error"] == "unavailable"
    [failed] = [r for r in caplog.records if r.getMessage() == "boot.secrets_failed"]
    assert "is secrets_key_file the one the other servers use?" in failed.fields["error"]  # type: ignore[attr-defined]
    again = boot_script(client, "pair1")["bootsvc-secrets.cpio.gz"]
    assert fetch(client, again, "10.1.0.11").status_code == 200


@pytest.mark.usefixtures("pair")
def test_secrets_are_kept_sealed_and_never_shown(
    client: FlaskClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "bootsvc")
    boots = []
    overlays = []
    for hostname in ("pair1", "pair1", "pair2"):
        urls = boot_script(client, hostname)
        ip = NODES[hostname][1]
        overlays.append(gzip.decompress(fetch(client, urls["bootsvc-overlay.cpio.gz"], ip).data))
        boots.append(unpacked(fetch(client, urls["bootsvc-secrets.cpio.gz"], ip).data))
    first, again, other = boots
    # SSH host keys are the node's for good; the authkey is the cluster's.
    host_key = first["/etc/ssh/ssh_host_ed25519_key"].content
    assert again["/etc/ssh/ssh_host_ed25519_key"].content == host_key
    assert other["/etc/ssh/ssh_host_ed25519_key"].content != host_key
    authkey = first["/etc/corosync/authkey"].content
    assert other["/etc/corosync/authkey"].content == authkey
    secrets = [authkey, host_key.splitlines()[1], first["/etc/ssh/ssh_host_rsa_key"].content[40:80]]
    for overlay in overlays:
        assert not any(secret in overlay for secret in secrets)
    formatter = LogfmtFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records).encode()
    assert b"token=" not in logged and not any(secret in logged for secret in secrets)
    # Nothing in any column of any table holds a secret in the clear.
    tables = MetaData()
    tables.reflect(db.engine)
    with db.read() as session:
        for table in tables.sorted_tables:
            for row in session.execute(select(table)):
                cells = b"".join(
                    value if isinstance(value, bytes) else str(value).encode() for value in row
                )
                assert not any(secret in cells for secret in secrets), table.name


@pytest.mark.usefixtures("pair")
def test_nocloud_documents(client: FlaskClient) -> None:
    for document in ("meta-data", "user-data", "network-config", "vendor-data"):
        reply = client.get(f"/boot/nocloud/pair2/{document}")
        assert reply.status_code == 200, document
    meta = client.get("/boot/nocloud/pair2/meta-data").get_data(as_text=True)
    assert "local-hostname: pair2\n" in meta and "instance-id: bootsvc-pair2-" in meta
    user = client.get("/boot/nocloud/pair2/user-data").get_data(as_text=True)
    assert user.startswith("#cloud-config\n") and "path: /etc/corosync/corosync.conf" in user
    assert client.get("/boot/nocloud/pair2/secrets").status_code == 404
    assert client.get("/boot/nocloud/nobody/meta-data").status_code == 404


@pytest.mark.usefixtures("pair")
def test_config_preview_api(
    client: FlaskClient, auth: dict[str, dict[str, Any]], db: Database
) -> None:
    reader = auth["reader"]
    shown = client.get("/api/v1/nodes/pair2/config", headers=reader).get_json()
    assert shown["image"] == "hv" and shown["version"] == "1"
    paths = {f["path"]: f for f in shown["files"]}
    assert paths["/etc/hostname"]["content"] == "pair2\n"
    assert "/etc/corosync/authkey" in shown["secrets"]
    assert "/etc/corosync/authkey" not in paths
    one = client.get(
        "/api/v1/nodes/pair2/config", query_string={"path": "/etc/hosts"}, headers=reader
    ).get_json()
    assert [f["path"] for f in one["files"]] == ["/etc/hosts"]
    with db.write() as session:
        cmdb.patch_cluster(session, "pair", factory.ACTOR, settings={"pacemaker": {}})
    broken = client.get("/api/v1/nodes/pair2/config", headers=reader)
    assert broken.status_code == 409
    body = broken.get_json()
    assert body["error"] == "node-config"
    assert body["details"]["setting"] == "pacemaker.stonith_enabled"
    assert body["details"]["line"] == 7


@pytest.mark.usefixtures("pair")
def test_with_bootsvc_dhcp_the_address_must_be_leased_to_the_node(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """When bootsvc runs DHCP, the script's address is not enough: bootsvc
    must hold a lease of that address for one of the node's MACs."""
    caplog.set_level(logging.INFO, "bootsvc.http")
    dhcp = settings.model_copy(update={"dhcp_mode": DhcpMode.AUTHORITATIVE, "dhcp_interface": "lo"})
    client = create_app(dhcp, db).test_client()
    now = time.time()

    def lease(ip: str, mac: str) -> None:
        with db.write() as session:
            leases.claim(session, [Lease(ip, mac, "10.1.0.0/24", BOUND, now + 600, now)], now)

    mine = boot_script(client, "pair1")["bootsvc-secrets.cpio.gz"]
    assert fetch(client, mine, "10.1.0.11").status_code == 403
    lease("10.1.0.11", NODES["pair2"][0])  # leased, but to another node
    assert fetch(client, mine, "10.1.0.11").status_code == 403
    assert refusals(caplog) == ["address not leased to this node by bootsvc"] * 2
    with db.write() as session:
        leases.end(session, [("10.1.0.11", NODES["pair2"][0])], RELEASED, now, now)
    lease("10.1.0.11", NODES["pair1"][0])
    assert fetch(client, mine, "10.1.0.11").status_code == 200
