from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bootsvc.core.access import tokens
from bootsvc.core.cmdb.records import TokenRecord
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.web.app import create_app


@pytest.fixture
def app(settings: Settings, db: Database) -> Flask:
    return create_app(settings, db)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_token(db: Database, name: str, role: str) -> str:
    with db.write() as session:
        return tokens.create(session, TokenRecord(name=name, role=role), "test")[1]  # type: ignore[arg-type]


@pytest.fixture
def auth(db: Database) -> dict[str, dict[str, Any]]:
    """Authorization headers for one token of each role."""
    return {
        role: {"Authorization": f"Bearer {make_token(db, role + '-token', role)}"}
        for role in ("admin", "cmdb", "reader")
    }
