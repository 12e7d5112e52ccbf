"""What every request meets before its route: bodies must say they are
JSON and fit the size settings, and the log escapes whatever the URL held."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bootsvc.logs import LogfmtFormatter
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry, BootReport, Node
from bootsvc.web.api import PREFIX, registry
from bootsvc.web.app import create_app

Headers = dict[str, dict[str, Any]]
MAC = "52:54:00:00:00:01"
NODE = {"hostname": "n1", "interfaces": [{"mac": MAC}]}


def counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Node, AuditEntry, BootReport)
        }


def json_routes() -> list[tuple[str, str]]:
    return [
        (op.method, PREFIX + re.sub(r"{\w+}", "x", op.path))
        for op in registry.operations
        if op.body is not None
    ]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", json.dumps(NODE)),
        ("application/x-www-form-urlencoded", "hostname=n1"),
        (None, json.dumps(NODE)),
    ],
)
def test_a_json_route_refuses_a_body_that_does_not_say_it_is_json(
    client: FlaskClient, auth: Headers, db: Database, content_type: str | None, body: str
) -> None:
    before = counts(db)
    routes = json_routes()
    assert ("POST", f"{PREFIX}/nodes") in routes and len(routes) >= 8
    for method, path in routes:
        kwargs: dict[str, Any] = {"data": body, "headers": auth["admin"]}
        if content_type:
            kwargs["content_type"] = content_type
        reply = client.open(path, method=method, **kwargs)
        assert reply.status_code == 415, (method, path)
        assert reply.get_json() == {
            "error": "unsupported-media-type",
            "message": "request body must be JSON (Content-Type: application/json), "
            f"not {content_type or 'untyped'}",
        }
    assert counts(db) == before
    ok = client.post(f"{PREFIX}/nodes", json=NODE, headers=auth["cmdb"])
    assert ok.status_code == 201
    assert client.post(
        f"{PREFIX}/nodes",
        data=json.dumps(NODE),
        content_type="application/merge-patch+json",
        headers=auth["cmdb"],
    ).get_json() == {"node": ok.get_json()["node"], "created": False, "changed": False}


def test_the_import_route_takes_its_own_types_only(
    client: FlaskClient, auth: Headers, db: Database
) -> None:
    before = counts(db)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "image/png"):
        reply = client.post(
            f"{PREFIX}/nodes/import",
            data="hostname,mac\nn1,52:54:00:00:00:01\n",
            content_type=content_type,
            headers=auth["cmdb"],
        )
        assert reply.status_code == 415
        assert reply.get_json()["error"] == "unsupported-media-type"
        assert "send application/json, application/yaml or text/csv" in reply.get_json()["message"]
    assert counts(db) == before


class Endless(io.RawIOBase):
    """A body that never ends, counting what the server reads of it."""

    def __init__(self) -> None:
        self.taken = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        buffer[:] = b" " * len(buffer)
        self.taken += len(buffer)
        return len(buffer)


@pytest.fixture
def small_bodies(settings: Settings, db: Database) -> Flask:
    limited = settings.model_copy(update={"http_max_body_bytes": 4096, "max_upload_bytes": 8192})
    return create_app(limited, db)


@pytest.mark.parametrize(
    "path", [f"{PREFIX}/nodes", f"{PREFIX}/nodes/import", f"{PREFIX}/clusters", "/boot/report"]
)
def test_a_body_over_the_size_setting_is_refused_unread(
    small_bodies: Flask, auth: Headers, db: Database, path: str
) -> None:
    before = counts(db)
    client = small_bodies.test_client()
    body = Endless()
    reply = client.post(
        path,
        content_type="application/json",
        headers=auth["admin"],
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(50 * 2**20)},
    )
    assert reply.status_code == 413
    assert reply.get_json() == {
        "error": "too-large",
        "message": "request body is larger than 4096 bytes",
    }
    assert body.taken == 0
    assert counts(db) == before


def test_uploads_have_their_own_size_setting(small_bodies: Flask, auth: Headers) -> None:
    client = small_bodies.test_client()
    content = b"k" * 6000
    reply = client.post(
        f"{PREFIX}/artifacts",
        data=content,
        content_type="application/octet-stream",
        headers=auth["admin"],
    )
    assert reply.status_code == 201
    assert reply.get_json() == {"sha256": hashlib.sha256(content).hexdigest(), "size": 6000}
    too_big = client.post(
        f"{PREFIX}/artifacts",
        data=b"k" * 9000,
        content_type="application/octet-stream",
        headers=auth["admin"],
    )
    assert too_big.status_code == 413 and too_big.get_json()["error"] == "too-large"


def test_report_details_over_the_setting_are_refused(
    client: FlaskClient, app: Flask, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.http")
    services = app.extensions["bootsvc"]
    limited = services.settings.model_copy(update={"report_max_details_bytes": 512})
    object.__setattr__(services, "settings", limited)
    before = counts(db)
    report = {"stage": "up", "mac": MAC, "details": {"log": "x" * 600}}
    reply = client.post("/boot/report", json=report)
    assert reply.status_code == 413
    message = (
        "details are 610 bytes as JSON, more than the 512 allowed "
        "(setting report_max_details_bytes)"
    )
    assert reply.get_json() == {"error": "too-large", "message": message}
    assert counts(db) == before
    refused = [r for r in caplog.records if r.getMessage() == "boot.report_refused"]
    assert refused[-1].fields["error"] == message  # type: ignore[attr-defined]
    # One that fits gets as far as the next check: whether it comes from the node.
    fits = client.post("/boot/report", json={**report, "details": {"log": "x" * 100}})
    assert fits.status_code == 403
    checked = [r for r in caplog.records if r.getMessage() == "boot.node_request_refused"]
    assert checked[-1].fields["reason"] == "no boot token"  # type: ignore[attr-defined]


def test_control_bytes_from_a_url_reach_the_log_escaped(
    client: FlaskClient, auth: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bootsvc.http")
    path = f"{PREFIX}/nodes/n1%00%1b[2J%7f%c2%85%0aevent=forged"
    reply = client.get(path, headers=auth["reader"])
    assert reply.status_code == 400
    record = next(r for r in caplog.records if r.getMessage() == "http.api")
    line = LogfmtFormatter().format(record)
    assert '\\x00\\x1b[2J\\x7f\\x85\\nevent=forged"' in line
    assert 'error="path: contains a NUL character"' in line
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in line)
