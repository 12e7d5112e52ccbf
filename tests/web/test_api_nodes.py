"""The CMDB's rules through the API: identity moves only with replace: true,
MACs and IPs no host can hold are refused, facts are bounded. Each refusal
is a JSON 4xx, changes nothing, and its log line says why."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bootsvc.core import audit
from bootsvc.core.cmdb import cmdb
from bootsvc.core.views.objects import node_view
from bootsvc.store.db import Database

Headers = dict[str, dict[str, Any]]
MAC1, MAC2, MAC3 = "52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"


def snapshot(db: Database) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    with db.read() as session:
        nodes = [node_view(n).model_dump() for n in cmdb.list_nodes(session)]
        entries = [(e.action, e.subject) for e in audit.entries(session, limit=1000)]
    return nodes, entries


def api_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.fields  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage() == "http.api"
    ]


@pytest.fixture
def nodes(client: FlaskClient, auth: Headers) -> None:
    for hostname, interfaces in (("n1", [MAC1, MAC2]), ("n2", [MAC3])):
        body = {"hostname": hostname, "interfaces": [{"mac": mac} for mac in interfaces]}
        assert client.post("/api/v1/nodes", json=body, headers=auth["cmdb"]).status_code == 201


@pytest.mark.usefixtures("nodes")
def test_a_rename_by_upsert_needs_replace(
    client: FlaskClient, auth: Headers, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.http")
    before = snapshot(db)
    record = {"hostname": "n9", "interfaces": [{"mac": MAC1}]}
    refused = client.post("/api/v1/nodes", json=record, headers=auth["cmdb"])
    assert refused.status_code == 409
    message = (
        f"MAC {MAC1} belongs to node n1; this record is for n9; "
        "send replace: true (--replace on the CLI) to rename n1 to n9"
    )
    assert refused.get_json() == {
        "error": "conflict",
        "message": message,
        "details": {"nodes": ["n1", "n9"]},
    }
    assert snapshot(db) == before
    assert api_lines(caplog)[-1]["status"] == 409
    assert api_lines(caplog)[-1]["error"] == message

    renamed = client.post("/api/v1/nodes", json={**record, "replace": True}, headers=auth["cmdb"])
    assert renamed.status_code == 200 and renamed.get_json()["node"]["hostname"] == "n9"
    with db.read() as session:
        entry = audit.entries(session, "node/n9")[-1]
    assert (entry.action, entry.actor, entry.from_value) == (
        "node.rename",
        "token:cmdb-token",
        "n1",
    )


@pytest.mark.usefixtures("nodes")
def test_moving_a_mac_needs_replace_from_a_writer(
    client: FlaskClient, auth: Headers, db: Database
) -> None:
    before = snapshot(db)
    record = {"hostname": "n2", "interfaces": [{"mac": MAC3}, {"mac": MAC2}]}
    refused = client.post("/api/v1/nodes", json=record, headers=auth["cmdb"])
    assert refused.status_code == 409
    assert refused.get_json()["message"].startswith(
        f"MAC {MAC2} belongs to node n1; this record is for n2; send replace: true"
    )
    moved = {**record, "replace": True}
    assert client.post("/api/v1/nodes", json=moved, headers=auth["reader"]).status_code == 403
    assert client.patch("/api/v1/nodes/n2", json=record, headers=auth["admin"]).status_code == 409
    assert snapshot(db) == before

    reply = client.patch("/api/v1/nodes/n2", json=moved, headers=auth["admin"])
    assert reply.status_code == 200
    assert [i["mac"] for i in reply.get_json()["interfaces"]] == [MAC3, MAC2]
    n1 = client.get("/api/v1/nodes/n1", headers=auth["reader"]).get_json()
    assert [i["mac"] for i in n1["interfaces"]] == [MAC1]
    events = client.get("/api/v1/audit", headers=auth["reader"]).get_json()
    assert any(e["action"] == "node.move" and e["subject"] == "node/n1" for e in events)
    again = client.post("/api/v1/nodes", json=record, headers=auth["cmdb"])
    assert again.status_code == 200 and again.get_json()["changed"] is False


@pytest.mark.usefixtures("nodes")
def test_an_import_giving_one_mac_to_two_hostnames_is_refused_whole(
    client: FlaskClient, auth: Headers, db: Database
) -> None:
    csv_body = "hostname,mac\nn7,52:54:00:00:00:07\na,52:54:00:00:00:0a\nb,52:54:00:00:00:0a\n"
    before = snapshot(db)
    for query in ({}, {"replace": "true"}):
        reply = client.post(
            "/api/v1/nodes/import",
            data=csv_body,
            content_type="text/csv",
            headers=auth["cmdb"],
            query_string=query,
        )
        assert reply.status_code == 400
        assert reply.get_json()["message"] == (
            "records 2 (a) and 3 (b) both list MAC 52:54:00:00:00:0a; nothing was imported"
        )
    assert snapshot(db) == before

    moving = "hostname,mac\nn2,52:54:00:00:00:02\n"
    kwargs: dict[str, Any] = {"data": moving, "content_type": "text/csv", "headers": auth["cmdb"]}
    assert client.post("/api/v1/nodes/import", **kwargs).status_code == 409
    assert snapshot(db) == before
    done = client.post("/api/v1/nodes/import", query_string={"replace": "1"}, **kwargs)
    assert done.status_code == 200 and done.get_json()["updated"] == 1
    n2 = client.get("/api/v1/nodes/n2", headers=auth["reader"]).get_json()
    assert [i["mac"] for i in n2["interfaces"]] == [MAC3, MAC2]


@pytest.mark.parametrize(
    ("interface", "message"),
    [
        ({"mac": "00:00:00:00:00:00"}, "'00:00:00:00:00:00' is the all-zero MAC address"),
        ({"mac": "ff:ff:ff:ff:ff:ff"}, "'ff:ff:ff:ff:ff:ff' is a broadcast MAC address"),
        ({"mac": "01:00:5e:7f:00:01"}, "'01:00:5e:7f:00:01' is a multicast MAC address"),
        ({"mac": MAC1, "ip": "0.0.0.0"}, "'0.0.0.0' is the unspecified address"),
        ({"mac": MAC1, "ip": "255.255.255.255"}, "'255.255.255.255' is the broadcast address"),
        ({"mac": MAC1, "ip": "239.1.1.1"}, "'239.1.1.1' is a multicast address"),
    ],
)
def test_macs_and_ips_no_host_can_hold_are_refused(
    client: FlaskClient,
    auth: Headers,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    interface: dict[str, str],
    message: str,
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.http")
    record = {"hostname": "n1", "interfaces": [interface]}
    reply = client.post("/api/v1/nodes", json=record, headers=auth["cmdb"])
    assert reply.status_code == 400 and message in reply.get_json()["message"]
    imported = client.post("/api/v1/nodes/import", json=[record], headers=auth["cmdb"])
    assert imported.status_code == 400 and message in imported.get_json()["message"]
    assert snapshot(db)[0] == [] and len(snapshot(db)[1]) == 3  # the tokens' entries
    assert all(message in line["error"] for line in api_lines(caplog))


def test_facts_larger_than_the_setting_are_refused(
    client: FlaskClient, auth: Headers, db: Database, app: Flask
) -> None:
    services = app.extensions["bootsvc"]
    limited = services.settings.model_copy(update={"cmdb_max_facts_bytes": 1024})
    object.__setattr__(services, "settings", limited)
    record = {"hostname": "n1", "serial": "S1", "facts": {"blob": "x" * 2000}}
    for reply in (
        client.post("/api/v1/nodes", json=record, headers=auth["cmdb"]),
        client.post("/api/v1/nodes/import", json=[record], headers=auth["cmdb"]),
    ):
        assert reply.status_code == 413
        body = reply.get_json()
        assert body["error"] == "too-large"
        assert "facts are 2011 bytes as JSON, more than the 1024 allowed" in body["message"]
    assert snapshot(db)[0] == []
    small = {**record, "facts": {"rack": "r1"}}
    assert client.post("/api/v1/nodes", json=small, headers=auth["cmdb"]).status_code == 201
    grown = client.patch("/api/v1/nodes/n1", json={"facts": record["facts"]}, headers=auth["cmdb"])
    assert grown.status_code == 413
    assert client.get("/api/v1/nodes/n1", headers=auth["reader"]).get_json()["facts"] == {
        "rack": "r1"
    }
