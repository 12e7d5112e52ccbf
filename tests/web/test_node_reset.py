"""POST/DELETE /api/v1/nodes/HOST/reset, and the node's `up` report that
carries the reset out."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory
from tests.web.simnodes import fetch_boot_token

Headers = dict[str, dict[str, Any]]
MAC = "52:54:00:00:71:01"
IP = "10.1.0.71"
URL = "/api/v1/nodes/hv1/reset"


def audit_actions(client: FlaskClient, auth: Headers) -> list[str]:
    entries = client.get("/api/v1/audit", headers=auth["admin"]).get_json()
    return [e["action"] for e in reversed(entries) if e["action"].startswith("node.reset")]


def test_only_an_admin_resets_and_the_node_view_shows_it(
    client: FlaskClient, db: Database, auth: Headers
) -> None:
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}])
    for role in ("reader", "cmdb"):
        denied = client.post(URL, headers=auth[role])
        assert denied.status_code == 403 and denied.get_json()["error"] == "forbidden"
    assert client.get("/api/v1/nodes/hv1", headers=auth["reader"]).get_json()["reset"] is None

    asked = client.post(URL, headers=auth["admin"])
    assert asked.status_code == 200
    view = asked.get_json()
    assert view["hostname"] == "hv1" and view["disks"] == "new"
    assert view["reset"]["requested_by"] == "token:admin-token"
    assert view["reset"]["requested_at"] is not None
    again = client.post(URL, headers=auth["admin"]).get_json()
    assert again["reset"] == view["reset"]
    shown = client.get("/api/v1/nodes/hv1", headers=auth["reader"]).get_json()
    assert shown["reset"] == view["reset"]
    fleet = client.get("/api/v1/fleet", headers=auth["reader"]).get_json()
    assert fleet["pending_reset"] == ["hv1"]
    assert fleet["nodes"][0]["reset"] == view["reset"]["id"]

    assert client.delete(URL, headers=auth["reader"]).status_code == 403
    cancelled = client.delete(URL, headers=auth["admin"])
    assert cancelled.status_code == 200 and cancelled.get_json()["reset"] is None
    assert audit_actions(client, auth) == ["node.reset", "node.reset-cancel"]


def test_an_unknown_node_is_404(client: FlaskClient, db: Database, auth: Headers) -> None:
    for method in (client.post, client.delete):
        reply = method("/api/v1/nodes/nobody/reset", headers=auth["admin"])
        assert reply.status_code == 404
        assert reply.get_json() == {
            "error": "not-found",
            "message": "node 'nobody' does not exist",
        }


def test_the_up_report_of_the_reset_spends_it(
    client: FlaskClient, db: Database, store: ArtifactStore, auth: Headers
) -> None:
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC, "ip": IP}], image="hv=1")
    reset_id = client.post(URL, headers=auth["admin"]).get_json()["reset"]["id"]
    node = {
        "environ_base": {"REMOTE_ADDR": IP},
        "headers": {"Authorization": f"Bearer {fetch_boot_token(client, MAC, IP)}"},
    }
    stale = {"state": "reset", "reset": str(reset_id + 1000)}
    reply = client.post(
        "/boot/report", json={"stage": "up", "mac": MAC, "details": {"disks": stale}}, **node
    )
    assert reply.status_code == 200
    assert client.get("/api/v1/nodes/hv1", headers=auth["reader"]).get_json()["reset"] is not None

    done = {"state": "reset", "reset": str(reset_id)}
    reply = client.post(
        "/boot/report", json={"stage": "up", "mac": MAC, "details": {"disks": done}}, **node
    )
    assert reply.get_json() == {"recorded": True, "node": "hv1"}
    shown = client.get("/api/v1/nodes/hv1", headers=auth["reader"]).get_json()
    assert (shown["reset"], shown["disks"]) == (None, "in-use")
    assert audit_actions(client, auth) == ["node.reset", "node.reset-done"]
