"""The OpenAPI document describes every live route, and the live API keeps
to it: schemathesis generates requests from the document and checks the
answers against it (no 5xx, documented statuses, response schemas and
content types)."""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from bootsvc.store.db import Database
from bootsvc.web.api import PREFIX
from tests.web.conftest import make_token


def test_document_and_routes_match(app: Flask) -> None:
    document = app.test_client().get(f"{PREFIX}/openapi.json").get_json()
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    live = {
        (method, re.sub(r"<(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX) and not rule.rule.endswith("/openapi.json")
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    assert documented == live
    assert all("summary" in op for ops in document["paths"].values() for op in ops.values())


def test_api_keeps_to_its_document(app: Flask, db: Database) -> None:
    token = make_token(db, "schemathesis", "admin")
    schema = schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            # Domain rules beyond the schema (a digest that must match the
            # body, an artifact that must exist) are answered with 4xx.
            case.call_and_validate(
                headers=headers, excluded_checks=[schemathesis.checks.positive_data_acceptance]
            )

        check()
