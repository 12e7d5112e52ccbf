"""An app with an image, a cluster of nodes and a token of each role, and a
test client logged in to the admin pages."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.support import factory, rolloutkit
from tests.web.conftest import make_token

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


class Pages:
    """A browser-like client: it reads each page's CSRF token and sends it
    back; pages come back unescaped, as a reader would see them."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str, status: int = 200) -> str:
        response = self.client.get(path)
        assert response.status_code == status, response.get_data(as_text=True)
        text = response.get_data(as_text=True)
        found = _CSRF.search(text)
        if found:
            self.csrf = found.group(1)
        return html.unescape(text)

    def post(self, path: str, status: int = 303, **form: str) -> str:
        response = self.client.post(path, data={"csrf": self.csrf, **form})
        assert response.status_code == status, response.get_data(as_text=True)
        return response.headers.get("Location", "") or html.unescape(
            response.get_data(as_text=True)
        )

    def login(self, token: str) -> None:
        self.get("/ui/login")
        self.get(self.post("/ui/login", token=token))


@pytest.fixture
def tokens(db: Database) -> dict[str, str]:
    return {role: make_token(db, f"{role}-token", role) for role in ("admin", "cmdb", "reader")}


@pytest.fixture
def fleet(db: Database, store: ArtifactStore) -> dict[str, str]:
    """Image hv with versions 1 and 2, stable at 1; cluster lab of three
    nodes following hv@stable, each booted up on 1. Returns hostname -> MAC."""
    factory.version(db, store, "hv", "1")
    factory.version(db, store, "hv", "2")
    factory.promote(db, store, "hv", "1")
    hosts = rolloutkit.make_cluster(db, "lab", 3)
    for mac in hosts.values():
        rolloutkit.boot(db, mac)
    return hosts


def pages_for(app: Flask, token: str) -> Pages:
    pages = Pages(app.test_client())
    pages.login(token)
    return pages


@pytest.fixture
def admin(app: Flask, tokens: dict[str, str]) -> Pages:
    return pages_for(app, tokens["admin"])


@pytest.fixture
def reader(app: Flask, tokens: dict[str, str]) -> Pages:
    return pages_for(app, tokens["reader"])
