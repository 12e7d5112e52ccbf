from __future__ import annotations

import hashlib
from typing import Any

import pytest
from flask.testing import FlaskClient

from bootsvc.store.db import Database

Headers = dict[str, dict[str, Any]]
NODE = {"hostname": "hv1", "interfaces": [{"mac": "52:54:00:00:00:01", "ip": "10.0.0.11"}]}


def upload(client: FlaskClient, auth: Headers, content: bytes, **query: str) -> Any:
    return client.post(
        "/api/v1/artifacts",
        data=content,
        headers=auth["admin"],
        query_string=query,
        content_type="application/octet-stream",
    )


def create_version(client: FlaskClient, auth: Headers, version: str = "1", **extra: Any) -> Any:
    kernel = upload(client, auth, b"kernel " + version.encode()).get_json()["sha256"]
    initrd = upload(client, auth, b"initrd " + version.encode()).get_json()["sha256"]
    body = {
        "version": version,
        "kernel": {"sha256": kernel, "name": "vmlinuz"},
        "initrds": [{"sha256": initrd, "name": "initrd.img"}],
        "cmdline": "console=ttyS0",
        **extra,
    }
    return client.post("/api/v1/images/hv/versions", json=body, headers=auth["admin"])


def test_routes_need_a_token_with_the_right_role(client: FlaskClient, auth: Headers) -> None:
    assert client.get("/api/v1/nodes").status_code == 401
    bad = client.get("/api/v1/nodes", headers={"Authorization": "Bearer bsv_nope"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "unauthorized"
    assert client.get("/api/v1/nodes", headers=auth["reader"]).status_code == 200
    assert client.post("/api/v1/nodes", json=NODE, headers=auth["reader"]).status_code == 403
    assert client.post("/api/v1/nodes", json=NODE, headers=auth["cmdb"]).status_code == 201
    assert create_version(client, auth).status_code == 201
    denied = client.put(
        "/api/v1/images/hv/channels/stable", json={"version": "1"}, headers=auth["cmdb"]
    )
    assert denied.status_code == 403 and "does not allow 'admin'" in denied.get_json()["message"]
    assert client.get("/api/v1/tokens", headers=auth["cmdb"]).status_code == 403


def test_revoked_token_stops_working(client: FlaskClient, auth: Headers) -> None:
    created = client.post(
        "/api/v1/tokens", json={"name": "ci", "role": "reader"}, headers=auth["admin"]
    )
    assert created.status_code == 201
    secret = created.get_json()["token"]
    header = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/images", headers=header).status_code == 200
    listed = client.get("/api/v1/tokens", headers=auth["admin"]).get_json()
    assert secret not in str(listed)
    assert client.delete("/api/v1/tokens/ci", headers=auth["admin"]).status_code == 200
    assert client.get("/api/v1/images", headers=header).status_code == 401


def test_tokens_are_stored_hashed(client: FlaskClient, auth: Headers, db: Database) -> None:
    secret = client.post(
        "/api/v1/tokens", json={"name": "x", "role": "reader"}, headers=auth["admin"]
    ).get_json()["token"]
    from sqlalchemy import select

    from bootsvc.store.models import ApiToken

    with db.read() as session:
        stored = session.scalar(select(ApiToken.token_hash).where(ApiToken.name == "x"))
    assert stored == hashlib.sha256(secret.encode()).hexdigest()


BUILD = {
    "recipe": "debian-hypervisor",
    "recipe_hash": "cd" * 32,
    "built_at": "2026-12-01T10:00:00Z",
    "host": "builder1",
    "packages": {"corosync": "3.1.7-1"},
    "sizes": {"vmlinuz": 8, "initrd.img": 8},
}


def test_a_version_keeps_the_record_of_its_build(client: FlaskClient, auth: Headers) -> None:
    assert create_version(client, auth, "1", build=BUILD).status_code == 201
    shown = client.get("/api/v1/images/hv/versions/1", headers=auth["reader"]).get_json()
    assert shown["build"] == BUILD
    wrong = create_version(client, auth, "2", build={**BUILD, "sizes": {"vmlinuz": 8}})
    assert wrong.status_code == 400
    assert wrong.get_json()["message"] == "build.sizes: no size for initrd.img"
    assert create_version(client, auth, "3").get_json()["build"] is None


def test_version_upload_promote_rollback(client: FlaskClient, auth: Headers) -> None:
    assert create_version(client, auth, "1").status_code == 201
    assert create_version(client, auth, "2").status_code == 201
    for version in ("1", "2"):
        moved = client.put(
            "/api/v1/images/hv/channels/stable", json={"version": version}, headers=auth["admin"]
        )
        assert moved.status_code == 200
    back = client.post(
        "/api/v1/images/hv/channels/stable/rollback", headers=auth["admin"]
    ).get_json()
    assert (back["previous"], back["channel"]["version"]) == ("2", "1")
    image = client.get("/api/v1/images/hv", headers=auth["reader"]).get_json()
    assert image["versions"] == ["1", "2"] and image["channels"][0]["version"] == "1"
    audit = client.get(
        "/api/v1/audit", query_string={"subject": "image/hv/channel/stable"}, headers=auth["reader"]
    ).get_json()
    assert [e["action"] for e in audit] == [
        "channel.rollback",
        "channel.promote",
        "channel.promote",
    ]
    assert audit[0]["actor"] == "token:admin-token"


def test_upload_checks_digest_size_and_emptiness(
    client: FlaskClient, auth: Headers, app: Any
) -> None:
    good = upload(client, auth, b"abc", sha256=hashlib.sha256(b"abc").hexdigest())
    assert good.status_code == 201 and good.get_json()["size"] == 3
    mismatch = upload(client, auth, b"abc", sha256="0" * 64)
    assert mismatch.status_code == 422 and mismatch.get_json()["error"] == "checksum-mismatch"
    assert upload(client, auth, b"").status_code == 400
    services = app.extensions["bootsvc"]
    object.__setattr__(
        services, "settings", services.settings.model_copy(update={"max_upload_bytes": 10})
    )
    too_big = upload(client, auth, b"x" * 11)
    assert too_big.status_code == 413
    assert [sha for sha, _ in services.store.blobs()] == [hashlib.sha256(b"abc").hexdigest()]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "needle"),
    [
        ("post", "/api/v1/nodes", "{not json", 400, "not valid JSON"),
        (
            "post",
            "/api/v1/nodes",
            {"hostname": "x", "interfaces": [{"mac": "00:11"}]},
            400,
            "is not a MAC",
        ),
        (
            "post",
            "/api/v1/nodes",
            {"hostname": "x", "interfaces": [{"mac": "52:54:00:00:00:09", "ip": "1.2.3"}]},
            400,
            "is not an IP",
        ),
        ("get", "/api/v1/nodes/nobody", None, 404, "does not exist"),
        ("get", "/api/v1/images/../../etc/passwd", None, 404, ""),
        (
            "post",
            "/api/v1/images/hv/versions",
            {
                "version": "1",
                "kernel": {"sha256": "a" * 64, "name": "k"},
                "initrds": [{"sha256": "b" * 64, "name": "i"}],
            },
            400,
            "has not been uploaded",
        ),
        (
            "post",
            "/api/v1/images/hv/versions",
            {
                "version": "1",
                "kernel": {"sha256": "a" * 64, "name": "../k"},
                "initrds": [{"sha256": "b" * 64, "name": "i"}],
            },
            400,
            "not a valid file name",
        ),
        ("get", "/api/v1/audit?limit=0", None, 400, "query limit"),
        # Python's JSON parser takes these; no database keeps them.
        (
            "post",
            "/api/v1/nodes",
            '{"hostname": "x", "interfaces": [{"mac": "52:54:00:00:00:09"}], "facts": {"a": NaN}}',
            400,
            "numbers must be finite",
        ),
        (
            "post",
            "/api/v1/nodes",
            '{"hostname": "x", "facts": {"a": 1e999}}',
            400,
            "numbers must be finite",
        ),
        (
            "post",
            "/api/v1/nodes",
            '{"hostname": "x", "facts": {"\\ud800": 1}}',
            400,
            "unpaired UTF-16 surrogate",
        ),
        (
            "post",
            "/api/v1/clusters",
            '{"name": "c", "domain": "c.example", "settings": {"a": [-Infinity]}}',
            400,
            "numbers must be finite",
        ),
        ("get", "/api/v1/rollouts/99999999999999999999999", None, 404, "does not exist"),
        # Digits that int() refuses (found by the OpenAPI fuzzing).
        ("get", "/api/v1/rollouts/%C2%B3", None, 404, "does not exist"),
        ("post", "/api/v1/rollouts/%D9%A1/pause", None, 404, "does not exist"),
        # Past 32 (and 64) bits, on the routes that lock the rollout too.
        ("post", "/api/v1/rollouts/2147483648/pause", None, 404, "does not exist"),
        ("post", "/api/v1/rollouts/9223372036854775808/abort", None, 404, "does not exist"),
        ("post", "/api/v1/nodes", "[" * 5000 + "]" * 5000, 400, "nested too deeply"),
        (
            "post",
            "/api/v1/clusters",
            '{"name": "c", "domain": "c.example", "settings": {"a": ' + "[" * 40 + "]" * 40 + "}}",
            400,
            "nested more than 32 levels",
        ),
    ],
)
def test_bad_input_gets_a_json_4xx_and_changes_nothing(
    client: FlaskClient, auth: Headers, method: str, path: str, body: Any, status: int, needle: str
) -> None:
    kwargs: dict[str, Any] = {"headers": auth["admin"]}
    if isinstance(body, str):
        kwargs.update(data=body, content_type="application/json")
    elif body is not None:
        kwargs["json"] = body
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.is_json and needle in response.get_json()["message"]
    assert client.get("/api/v1/nodes", headers=auth["reader"]).get_json() == []
    assert client.get("/api/v1/images", headers=auth["reader"]).get_json() == []
    assert client.get("/api/v1/clusters", headers=auth["reader"]).get_json() == []


def test_node_upsert_is_idempotent_and_conflicts_name_the_node(
    client: FlaskClient, auth: Headers
) -> None:
    first = client.post("/api/v1/nodes", json=NODE, headers=auth["cmdb"])
    assert first.status_code == 201 and first.get_json()["created"]
    again = client.post("/api/v1/nodes", json=NODE, headers=auth["cmdb"])
    assert again.status_code == 200 and again.get_json()["changed"] is False
    clash = {"hostname": "hv2", "interfaces": [{"mac": "52:54:00:00:00:02", "ip": "10.0.0.11"}]}
    conflict = client.post("/api/v1/nodes", json=clash, headers=auth["cmdb"])
    assert conflict.status_code == 409
    assert conflict.get_json()["message"] == (
        "IP 10.0.0.11 belongs to node hv1; this record is for hv2; "
        "send replace: true (--replace on the CLI) to move it"
    )


def test_bulk_import_formats_and_atomicity(client: FlaskClient, auth: Headers) -> None:
    csv_body = "hostname,mac,ip\nhv1,52:54:00:00:00:01,10.0.0.1\nhv2,52:54:00:00:00:02,10.0.0.2\n"
    result = client.post(
        "/api/v1/nodes/import", data=csv_body, content_type="text/csv", headers=auth["cmdb"]
    )
    assert result.status_code == 200 and result.get_json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
    }
    yaml_body = (
        "- hostname: hv3\n  interfaces: [{mac: '52:54:00:00:00:03'}]\n"
        "- hostname: hv4\n  interfaces: [{mac: '52:54:00:00:00:04', ip: 10.0.0.1}]\n"
    )
    clash = client.post(
        "/api/v1/nodes/import",
        data=yaml_body,
        content_type="application/yaml",
        headers=auth["cmdb"],
    )
    assert clash.status_code == 409 and "record 2" in clash.get_json()["message"]
    names = [n["hostname"] for n in client.get("/api/v1/nodes", headers=auth["reader"]).get_json()]
    assert names == ["hv1", "hv2"]
    weird = client.post(
        "/api/v1/nodes/import", data="x", content_type="image/png", headers=auth["cmdb"]
    )
    assert weird.status_code == 415


def test_accept_patch_and_delete_node(client: FlaskClient, auth: Headers) -> None:
    client.post("/api/v1/nodes", json={**NODE, "state": "new"}, headers=auth["cmdb"])
    assert client.post("/api/v1/nodes/hv1/accept", headers=auth["cmdb"]).status_code == 403
    accepted = client.post("/api/v1/nodes/hv1/accept", headers=auth["admin"]).get_json()
    assert accepted["state"] == "active"
    patched = client.patch(
        "/api/v1/nodes/hv1",
        json={"roles": ["hypervisor"], "facts": {"rack": 4}},
        headers=auth["cmdb"],
    )
    assert patched.get_json()["roles"] == ["hypervisor"]
    assert client.delete("/api/v1/nodes/hv1", headers=auth["cmdb"]).status_code == 204
    assert client.get("/api/v1/nodes/hv1", headers=auth["reader"]).status_code == 404


def test_clusters(client: FlaskClient, auth: Headers) -> None:
    body = {
        "name": "c1",
        "domain": "c1.example.org",
        "networks": [{"name": "ring", "cidr": "10.9.0.0/24", "vlan": 9}],
    }
    assert client.post("/api/v1/clusters", json=body, headers=auth["cmdb"]).status_code == 201
    assert (
        client.post("/api/v1/clusters", json=body, headers=auth["cmdb"]).get_json()["changed"]
        is False
    )
    patched = client.patch(
        "/api/v1/clusters/c1", json={"settings": {"quorum": 2}}, headers=auth["cmdb"]
    ).get_json()
    assert patched["settings"] == {"quorum": 2} and patched["networks"][0]["vlan"] == 9
    client.post("/api/v1/nodes", json={**NODE, "cluster": "c1"}, headers=auth["cmdb"])
    assert client.delete("/api/v1/clusters/c1", headers=auth["cmdb"]).status_code == 409
    assert client.get("/api/v1/clusters/c1", headers=auth["reader"]).get_json()["members"] == [
        "hv1"
    ]


def test_secure_boot_must_be_true_or_false(client: FlaskClient, auth: Headers) -> None:
    """A node fact or cluster setting the boot path would not read as a
    boolean is refused, and nothing is stored."""
    cluster = {"name": "c1", "domain": "c1.example.org"}
    refused = client.post(
        "/api/v1/clusters",
        json={**cluster, "settings": {"secure_boot": "yes"}},
        headers=auth["cmdb"],
    )
    assert refused.status_code == 400
    assert refused.get_json()["message"] == 'settings: secure_boot must be true or false, not "yes"'
    assert client.get("/api/v1/clusters/c1", headers=auth["reader"]).status_code == 404

    client.post("/api/v1/clusters", json=cluster, headers=auth["cmdb"])
    patch = {"settings": {"secure_boot": 1}}
    refused = client.patch("/api/v1/clusters/c1", json=patch, headers=auth["cmdb"])
    assert refused.status_code == 400
    assert refused.get_json()["message"] == "settings: secure_boot must be true or false, not 1"
    patch = {"settings": {"secure_boot": True}}
    accepted = client.patch("/api/v1/clusters/c1", json=patch, headers=auth["cmdb"])
    assert accepted.get_json()["settings"] == {"secure_boot": True}
    removed = client.patch(
        "/api/v1/clusters/c1", json={"settings": {"secure_boot": None}}, headers=auth["cmdb"]
    )
    assert removed.get_json()["settings"] == {}

    node = {**NODE, "facts": {"secure_boot": "true"}}
    refused = client.post("/api/v1/nodes", json=node, headers=auth["cmdb"])
    assert refused.status_code == 400
    assert refused.get_json()["message"] == 'facts: secure_boot must be true or false, not "true"'
    assert client.get("/api/v1/nodes/hv1", headers=auth["reader"]).status_code == 404
    node = {**NODE, "facts": {"secure_boot": False}}
    assert client.post("/api/v1/nodes", json=node, headers=auth["cmdb"]).status_code == 201
