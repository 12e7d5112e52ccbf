"""Request bodies read as JSON. Only a body that says it is JSON is read: a
form or text/plain body is what a browser sends across sites without
asking, so it gets 415 and is never parsed."""

from __future__ import annotations

from typing import Any

from flask import request

from bootsvc.core.cmdb.documents import load_json
from bootsvc.errors import InvalidInput, UnsupportedMediaType


def json_body(what: str) -> Any:
    if not request.is_json:
        raise UnsupportedMediaType(
            f"{what} must be JSON (Content-Type: application/json), "
            f"not {request.mimetype or 'untyped'}"
        )
    if request.content_length == 0:
        raise InvalidInput(f"{what} is empty; expected JSON")
    return load_json(request.get_data(cache=False), what)


def json_object(what: str) -> dict[str, Any]:
    data = json_body(what)
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return data
