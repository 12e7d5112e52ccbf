"""Attested delivery over HTTP: POST /boot/nodes/HOST/attest with a real
software TPM on the node's side, and the admin's /api/v1/nodes/HOST/tpm."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bootsvc.core.nodeconfig import cpio
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory, nodeclusters
from tests.support.swtpm import SoftTpm, open_bundle, soft_tpm

Headers = dict[str, dict[str, Any]]
MAC, IP = nodeclusters.mac(0x11, 0), "10.1.0.11"
MAC2, IP2 = nodeclusters.mac(0x12, 0), "10.1.0.12"
ATTEST = "/boot/nodes/pair1/attest"
TPM_API = "/api/v1/nodes/pair1/tpm"


@pytest.fixture
def pair(db: Database, store: ArtifactStore) -> None:
    """pair1 says it has a TPM (fact tpm: true); pair2 says nothing."""
    nodeclusters.two_node_cluster(db)
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="pair1", interfaces=[{"mac": MAC}], image="hv=1", facts={"tpm": True})
    factory.node(db, hostname="pair2", interfaces=[{"mac": MAC2}], image="hv=1")


def script(client: FlaskClient, mac: str, ip: str) -> str:
    reply = client.get(
        "/boot/node.ipxe", query_string={"mac": mac}, environ_base={"REMOTE_ADDR": ip}
    )
    assert reply.status_code == 200
    return reply.get_data(as_text=True)


def attest(client: FlaskClient, pem: str, ak_name: bytes, host: str = "pair1") -> TestResponse:
    return client.post(
        f"/boot/nodes/{host}/attest",
        json={"ek_public": pem, "ak_name": ak_name.hex()},
        environ_base={"REMOTE_ADDR": IP},
    )


def tpm_of(client: FlaskClient, auth: Headers, host: str = "pair1") -> Any:
    return client.get(f"/api/v1/nodes/{host}", headers=auth["reader"]).get_json()["tpm"]


def tpm_audit(client: FlaskClient, auth: Headers) -> list[str]:
    entries = client.get("/api/v1/audit", headers=auth["admin"]).get_json()
    return [e["action"] for e in reversed(entries) if e["action"].startswith("node.tpm")]


def logged(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.getMessage() == name]  # type: ignore[attr-defined]


def open_reply(tpm: SoftTpm, reply: TestResponse, tmp_path: Path) -> dict[str, bytes] | None:
    """What the node's client does with a 200: activate, then open the bundle."""
    body = reply.get_json()
    done = tpm.activate(base64.b64decode(body["credential"]))
    if done.returncode != 0:
        return None
    archive = open_bundle(tpm.secret(), base64.b64decode(body["bundle"]), tmp_path)
    assert archive is not None
    return {f.path: f.content for f in cpio.unpack(archive)}


def rsa_pem() -> str:
    key = rsa.generate_private_key(65537, 2048).public_key()
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.usefixtures("pair")
def test_first_boot_waits_for_the_admin_then_only_that_tpm_opens_the_secrets(
    client: FlaskClient, auth: Headers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc")
    with soft_tpm(tmp_path / "node") as tpm:
        pem, ak_name = tpm.create_keys()
        for _boot in range(2):
            pending = attest(client, pem, ak_name)
            assert pending.status_code == 403
            assert pending.get_json()["error"] == "tpm-pending"
        shown = tpm_of(client, auth)
        assert shown["state"] == "pending"
        assert f"sha256 {shown['ek_sha256']}" in pending.get_json()["message"]
        waits = logged(caplog, "boot.attest_pending")
        assert [w["first_seen"] for w in waits] == [True, False]
        assert waits[0]["ek_sha256"] == shown["ek_sha256"]
        assert (waits[0]["stage"], waits[0]["node"], waits[0]["ip"]) == ("attest", "pair1", IP)

        accept = f"{TPM_API}/accept"
        assert client.post(accept, headers=auth["cmdb"]).status_code == 403
        wrong = client.post(accept, query_string={"ek_sha256": "0" * 64}, headers=auth["admin"])
        assert wrong.status_code == 409 and tpm_of(client, auth)["state"] == "pending"
        accepted = client.post(
            accept, query_string={"ek_sha256": shown["ek_sha256"]}, headers=auth["admin"]
        )
        assert accepted.status_code == 200
        assert accepted.get_json()["tpm"]["state"] == "accepted"

        reply = attest(client, pem, ak_name)
        assert reply.status_code == 200
        files = open_reply(tpm, reply, tmp_path)
        assert files is not None
        assert b"PRIVATE KEY" in files["/etc/ssh/ssh_host_ed25519_key"]
        assert files["/etc/corosync/authkey"]
    assert tpm_audit(client, auth) == ["node.tpm-enroll", "node.tpm-accept"]
    assert logged(caplog, "boot.attest")[0]["files"] == len(files)


@pytest.mark.usefixtures("pair")
def test_another_tpm_gets_nothing_usable(
    client: FlaskClient, auth: Headers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc")
    with soft_tpm(tmp_path / "a") as owner, soft_tpm(tmp_path / "b") as thief:
        pem, _ = owner.create_keys()
        thief_pem, thief_ak = thief.create_keys()
        registered = client.put(TPM_API, json={"ek_public": pem}, headers=auth["admin"])
        assert registered.status_code == 200
        before = tpm_of(client, auth)

        refused = attest(client, thief_pem, thief_ak)
        assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"
        assert tpm_of(client, auth) == before
        (line,) = logged(caplog, "boot.attest_refused")
        assert line["reason"] == f"not the node's registered TPM (sha256 {before['ek_sha256']})"

        # The owner's EK is public: sending it gets a credential only the owner opens.
        stolen = attest(client, pem, thief_ak)
        assert stolen.status_code == 200
        assert open_reply(thief, stolen, tmp_path) is None
    assert tpm_audit(client, auth) == ["node.tpm-register"]


@pytest.mark.usefixtures("pair")
def test_a_node_that_expects_no_tpm_keeps_nothing(
    client: FlaskClient, auth: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc")
    reply = attest(client, rsa_pem(), bytes.fromhex("000b") + bytes(32), host="pair2")
    assert reply.status_code == 403 and reply.get_json()["error"] == "forbidden"
    assert tpm_of(client, auth, "pair2") is None
    assert logged(caplog, "boot.attest_refused")[0]["reason"] == "the node expects no TPM"
    assert tpm_audit(client, auth) == []


@pytest.mark.usefixtures("pair")
@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ('{"ek_public": "x", "ak_name": "00"}', "text/plain", 415, "application/json"),
        ("{", "application/json", 400, "not valid JSON"),
        ("[]", "application/json", 400, "JSON object"),
        ('{"ak_name": "000b"}', "application/json", 400, "ek_public"),
        ('{"ek_public": "x", "ak_name": "000b"}', "application/json", 400, "not a PEM"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    client: FlaskClient,
    auth: Headers,
    body: str,
    content_type: str,
    status: int,
    message: str,
) -> None:
    reply = client.post(ATTEST, data=body, content_type=content_type)
    assert reply.status_code == status
    assert message in reply.get_json()["message"]
    assert tpm_of(client, auth) is None


def test_an_unknown_node_is_404(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bootsvc")
    reply = attest(client, rsa_pem(), bytes.fromhex("000b") + bytes(32), host="nobody")
    assert reply.status_code == 404
    assert logged(caplog, "boot.attest_refused")[0]["reason"] == "node 'nobody' does not exist"


@pytest.mark.usefixtures("pair")
def test_only_an_admin_registers_or_forgets(client: FlaskClient, auth: Headers) -> None:
    pem = rsa_pem()
    for role in ("reader", "cmdb"):
        assert client.put(TPM_API, json={"ek_public": pem}, headers=auth[role]).status_code == 403
        assert client.delete(TPM_API, headers=auth[role]).status_code == 403
    bad = client.put(TPM_API, json={"ek_public": "junk"}, headers=auth["admin"])
    assert bad.status_code == 400 and tpm_of(client, auth) is None
    first = client.put(TPM_API, json={"ek_public": pem}, headers=auth["admin"]).get_json()
    again = client.put(TPM_API, json={"ek_public": pem}, headers=auth["admin"]).get_json()
    assert first["tpm"] == again["tpm"] and first["tpm"]["state"] == "accepted"
    assert client.post(f"{TPM_API}/accept", headers=auth["admin"]).status_code == 200
    forgotten = client.delete(TPM_API, headers=auth["admin"])
    assert forgotten.status_code == 200 and forgotten.get_json()["tpm"] is None
    assert client.delete(TPM_API, headers=auth["admin"]).status_code == 200
    assert client.post(f"{TPM_API}/accept", headers=auth["admin"]).status_code == 404
    assert tpm_audit(client, auth) == ["node.tpm-register", "node.tpm-forget"]


@pytest.mark.usefixtures("pair")
def test_the_script_of_a_node_with_a_tpm_carries_no_secrets_initrd(
    client: FlaskClient, auth: Headers
) -> None:
    expecting = script(client, MAC, IP)
    assert "bootsvc-secrets" not in expecting and " bootsvc.attest=1" in expecting
    assert "no secrets for this boot: sealed to the node's TPM, once an admin accepts" in expecting

    without = script(client, MAC2, IP2)
    assert "initrd=bootsvc-secrets.cpio.gz" in without and "bootsvc.attest" not in without
    registered = client.put(
        "/api/v1/nodes/pair2/tpm", json={"ek_public": rsa_pem()}, headers=auth["admin"]
    )
    assert registered.status_code == 200
    accepted = script(client, MAC2, IP2)
    assert "bootsvc-secrets" not in accepted and " bootsvc.attest=1" in accepted
    assert "no secrets for this boot: sealed to the node's TPM\n" in accepted
