"""Logging in, sessions and CSRF on the admin pages: every bad request gets
a clear page with the right status, and changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer

from bootsvc.core import audit
from bootsvc.core.access import tokens as token_store
from bootsvc.core.cmdb import cmdb
from bootsvc.store.db import Database
from bootsvc.web.app import create_app
from tests.web.ui.conftest import Pages, pages_for


def _state(db: Database, hostname: str) -> str:
    with db.read() as session:
        return cmdb.get_node(session, hostname).state


def _audit_count(db: Database) -> int:
    with db.read() as session:
        return len(audit.entries(session, limit=10_000))


def test_a_page_without_a_login_sends_to_the_login_form(app: Flask) -> None:
    response = app.test_client().get("/ui/nodes?q=hv")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/ui/login?next=/ui/nodes")


def test_a_token_logs_in_and_the_cookie_holds_no_token(
    app: Flask, tokens: dict[str, str], fleet: dict[str, str]
) -> None:
    pages = pages_for(app, tokens["admin"])
    html = pages.get("/ui/fleet")
    assert "admin-token" in html and "Cluster lab" in html
    cookie = pages.client.get_cookie("bootsvc_ui", path="/ui")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert tokens["admin"] not in cookie.value
    for path in ("/ui/fleet", "/ui/nodes", "/ui/nodes/labn0", "/ui/images/hv", "/ui/audit"):
        assert tokens["admin"] not in pages.get(path)


def test_an_unknown_token_is_refused_with_the_apis_words(app: Flask) -> None:
    pages = Pages(app.test_client())
    pages.get("/ui/login")
    html = pages.post("/ui/login", status=401, token="bsv_not-a-token")
    assert "the token is unknown or revoked" in html
    assert pages.client.get("/ui/fleet").status_code == 303


def test_a_login_form_without_its_csrf_token_is_refused(app: Flask, tokens: dict[str, str]) -> None:
    client = app.test_client()
    response = client.post("/ui/login", data={"token": tokens["admin"]})
    assert response.status_code == 403
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/ui/fleet").status_code == 303


def test_a_forged_cookie_gets_a_clear_page_and_changes_nothing(
    app: Flask, admin: Pages, db: Database, fleet: dict[str, str]
) -> None:
    forged = URLSafeTimedSerializer("not our key", salt="cookie-session").dumps(
        {"token": 1, "csrf": "x"}
    )
    before = _audit_count(db)
    client = app.test_client()
    client.set_cookie("bootsvc_ui", forged, path="/ui")
    response = client.post("/ui/nodes/labn0/disable", data={"csrf": "x"})
    assert response.status_code == 401
    assert "your session is not valid" in response.get_data(as_text=True)
    assert _state(db, "labn0") == "active" and _audit_count(db) == before


def test_an_expired_cookie_gets_a_clear_page(
    app: Flask, admin: Pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    ttl = app.permanent_session_lifetime.total_seconds()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - ttl - 60)
    stale = serializer.dumps({"token": 1, "csrf": "x"})
    monkeypatch.setattr(time, "time", real)
    client = app.test_client()
    client.set_cookie("bootsvc_ui", stale, path="/ui")
    response = client.get("/ui/fleet")
    assert response.status_code == 401
    assert "log in again" in response.get_data(as_text=True)


def test_a_form_without_the_csrf_token_changes_nothing(
    admin: Pages, db: Database, fleet: dict[str, str]
) -> None:
    before = _audit_count(db)
    for csrf in ("", "wrong"):
        response = admin.client.post("/ui/nodes/labn0/disable", data={"csrf": csrf})
        assert response.status_code == 403
        assert "no valid CSRF token" in response.get_data(as_text=True)
    assert _state(db, "labn0") == "active" and _audit_count(db) == before


def test_a_reader_sees_no_action_and_the_server_refuses_one(
    reader: Pages, db: Database, fleet: dict[str, str]
) -> None:
    node = reader.get("/ui/nodes/labn0")
    assert "may take no action" in node and "/ui/nodes/labn0/disable" not in node
    image = reader.get("/ui/images/hv")
    assert "Promote" not in image and "Roll back" not in image
    before = _audit_count(db)
    html = reader.post("/ui/nodes/labn0/disable", status=403)
    assert "token 'reader-token' has role 'reader', which does not allow 'cmdb'" in html
    reader.post("/ui/images/hv/promote", status=403, version="2", channel="stable")
    reader.get("/ui/images/hv/promote?version=2&channel=stable", status=403)
    assert _state(db, "labn0") == "active" and _audit_count(db) == before


def test_a_revoked_token_ends_its_session(
    admin: Pages, db: Database, fleet: dict[str, str]
) -> None:
    with db.write() as session:
        token_store.revoke(session, "admin-token", "test")
    html = admin.get("/ui/fleet", status=401)
    assert "unknown or revoked" in html


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/ui/nodes/nosuch", "node 'nosuch' does not exist"),
        ("/ui/nodes/nosuch/accept", "node 'nosuch' does not exist"),
        ("/ui/nodes/labn0/explode", "there is no node action 'explode'"),
        ("/ui/rollouts/99", "rollout 99 does not exist"),
        ("/ui/rollouts/99999999999999999999", "does not exist"),
        ("/ui/images/nosuch", "image 'nosuch' does not exist"),
        ("/ui/no/such/page", "there is no such page"),
    ],
)
def test_what_does_not_exist_gets_a_404_page(
    admin: Pages, fleet: dict[str, str], path: str, message: str
) -> None:
    html = admin.get(path, status=404)
    assert message in html and "Nothing was changed" in html


def test_an_action_on_a_missing_node_changes_nothing(
    admin: Pages, db: Database, fleet: dict[str, str]
) -> None:
    before = _audit_count(db)
    assert "does not exist" in admin.post("/ui/nodes/nosuch/disable", status=404)
    assert "no reboot slot" in admin.post("/ui/nodes/labn0/release", status=404)
    assert _audit_count(db) == before


def test_a_nul_in_a_query_is_refused(admin: Pages) -> None:
    assert "NUL" in admin.get("/ui/nodes?q=a%00b", status=400)


def test_a_site_template_overrides_a_page(
    tmp_path: Path, settings: object, db: Database, tokens: dict[str, str]
) -> None:
    site = tmp_path / "site"
    (site / "ui").mkdir(parents=True)
    (site / "ui" / "images.html").write_text("site images page for {{ viewer.name }}")
    app = create_app(settings.model_copy(update={"template_dir": site}), db)  # type: ignore[attr-defined]
    assert pages_for(app, tokens["reader"]).get("/ui/images") == "site images page for reader-token"
