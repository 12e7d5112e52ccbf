"""GET /boot/node.ipxe?preview=1: the script a machine would get, for an
admin's curl. It must not count as a boot: no report, no token, no
enlistment; the real fetch after it does all three."""

from __future__ import annotations

import logging
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bootsvc.core.boot.bootscript import TOKEN_PLACEHOLDER
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import BootReport, BootToken, Node, SecretToken
from tests.support import factory

MAC = "52:54:00:00:61:01"
IP = "10.1.0.61"


def _counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (BootReport, SecretToken, BootToken, Node)
        }


def _script(client: FlaskClient, **query: str) -> str:
    reply = client.get("/boot/node.ipxe", query_string=query, environ_base={"REMOTE_ADDR": IP})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_data(as_text=True)


def test_preview_is_the_script_without_the_boot(
    client: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv=1")
    before = _counts(db)
    preview = _script(client, mac=MAC.replace(":", "-"), preview="1")
    assert f"secrets.cpio.gz?token={TOKEN_PLACEHOLDER} " in preview, preview
    assert f"bootsvc.token={TOKEN_PLACEHOLDER} " in preview, preview
    assert _counts(db) == before

    real = _script(client, mac=MAC.replace(":", "-"))
    token = re.search(r"secrets\.cpio\.gz\?token=(\S+) ", real)
    assert token is not None and token.group(1) != TOKEN_PLACEHOLDER
    boot_token = factory.boot_token(real)
    assert boot_token not in (TOKEN_PLACEHOLDER, token.group(1))
    unsecret = real.replace(token.group(1), TOKEN_PLACEHOLDER)
    assert unsecret.replace(boot_token, TOKEN_PLACEHOLDER) == preview
    after = _counts(db)
    assert after["BootReport"] == before["BootReport"] + 1
    assert after["SecretToken"] == before["SecretToken"] + 1
    assert after["BootToken"] == before["BootToken"] + 1


def test_preview_of_an_unknown_machine_enlists_nothing(client: FlaskClient, db: Database) -> None:
    before = _counts(db)
    reply = client.get("/boot/node.ipxe", query_string={"mac": MAC, "preview": "1"})
    assert reply.status_code == 404
    assert reply.get_json()["message"] == f"no node has MAC {MAC}; its first boot would enlist it"
    assert _counts(db) == before


def test_reports_numbers_and_text_no_database_keeps_are_refused(
    client: FlaskClient, db: Database
) -> None:
    before = _counts(db)
    for details in ('{"load": NaN}', '{"load": Infinity}', '{"note": "\\udc00"}'):
        body = f'{{"stage": "up", "mac": "{MAC}", "details": {details}}}'
        reply = client.post("/boot/report", data=body, content_type="application/json")
        assert reply.status_code == 400, details
        assert reply.get_json()["message"].startswith("report: "), reply.get_json()
    deep = client.post("/boot/report", data="[" * 5000, content_type="application/json")
    assert deep.status_code == 400 and "nested too deeply" in deep.get_json()["message"]
    assert _counts(db) == before


@pytest.mark.parametrize(
    "path",
    [
        "/boot/nodes/a%00b/bootsvc-overlay.cpio.gz",
        "/boot/nodes/a%00b/bootsvc-secrets.cpio.gz?token=x",
        "/boot/nocloud/a%00b/meta-data",
    ],
)
def test_a_nul_in_a_path_segment_is_refused(client: FlaskClient, db: Database, path: str) -> None:
    before = _counts(db)
    reply = client.get(path)
    assert reply.status_code == 400
    assert reply.get_json()["message"] == "path: contains a NUL character"
    assert _counts(db) == before


@pytest.mark.parametrize(
    ("mac", "says"),
    [
        ("00:00:00:00:00:00", "is the all-zero MAC address"),
        ("ff:ff:ff:ff:ff:ff", "is a broadcast MAC address"),
        ("01:00:5e:00:00:fb", "is a multicast MAC address"),
        ("33-33-00-00-00-01", "is a multicast MAC address"),
    ],
)
def test_a_report_from_no_machine_s_own_mac_is_refused(
    client: FlaskClient, db: Database, caplog: pytest.LogCaptureFixture, mac: str, says: str
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.http")
    before = _counts(db)
    posted = client.post("/boot/report", json={"stage": "up", "mac": mac})
    got = client.get("/boot/report", query_string={"stage": "kernel-loaded", "mac": mac})
    for reply in (posted, got):
        assert reply.status_code == 400
        body = reply.get_json()
        assert body["error"] == "invalid"
        assert body["message"] == f"{mac!r} {says}, not a machine's own"
    refused = [r for r in caplog.records if r.getMessage() == "boot.report_refused"]
    assert len(refused) == 2 and [r.levelno for r in refused] == [logging.WARNING] * 2
    assert _counts(db) == before


@pytest.mark.parametrize("name", ["not-a-mac", "52:54:00:00:61", "ff:ff:ff:ff:ff:ff", "%00"])
def test_a_malformed_grub_config_request_is_refused(
    client: FlaskClient, db: Database, name: str
) -> None:
    before = _counts(db)
    reply = client.get(f"/grub/node/{name}.cfg", environ_base={"REMOTE_ADDR": IP})
    assert reply.status_code == 400, reply.get_data(as_text=True)
    assert reply.is_json and reply.get_json()["error"]
    assert _counts(db) == before


def test_grub_config_preview_counts_as_no_boot(
    client: FlaskClient, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1", kernel_signed=True)
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv=1")
    before = _counts(db)
    reply = client.get(f"/grub/node/{MAC}.cfg?preview=1", environ_base={"REMOTE_ADDR": IP})
    assert reply.status_code == 200
    text = reply.get_data(as_text=True)
    assert re.search(r"^  if linux '/artifacts/[0-9a-f]{64}/vmlinuz' ", text, re.M), text
    assert f"bootsvc.token={TOKEN_PLACEHOLDER}'" in text
    assert _counts(db) == before
