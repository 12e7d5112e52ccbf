"""API routes declared once: the declaration registers the Flask view, checks
the caller's role, parses the body and query with pydantic, serialises the
reply, and becomes the route's entry in the OpenAPI document. The document
cannot drift from the routes because both come from the same list."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, TypeAdapter

from bootsvc.core.cmdb.records import parse
from bootsvc.errors import BootsvcError
from bootsvc.web.auth import require_scope
from bootsvc.web.jsonbody import json_body

_PARAM = re.compile(r"{(\w+)}")
_REF = "#/components/schemas/{model}"

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    400: "Invalid input",
    401: "No valid token",
    403: "The token's role does not allow this",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Too large",
    415: "Unsupported media type",
    422: "Checksum mismatch",
}


class ErrorBody(BaseModel):
    error: str
    message: str
    details: dict[str, Any] | None = None


@dataclass
class Reply:
    """A view's answer: a status and a pydantic model, a list of them, or nothing."""

    body: Any = None
    status: int = 200


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    scope: str | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    responses: dict[int, Any]
    errors: tuple[int, ...]
    request_content: dict[str, Any] | None
    tag: str


@dataclass
class ApiRegistry:
    blueprint: Blueprint
    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        scope: str | None,
        responses: dict[int, Any],
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        errors: tuple[int, ...] = (),
        request_content: dict[str, Any] | None = None,
    ) -> Callable[[Callable[..., Reply]], Callable[..., Response]]:
        errors = _default_errors(method, path, scope, body or request_content, query) + errors
        if body is not None:
            # A JSON body: too large, or not JSON.
            errors += (413, 415)
        tag = path.strip("/").split("/")[0]
        operation = Operation(
            method, path, summary, scope, body, query, responses, errors, request_content, tag
        )
        self.operations.append(operation)
        rule = _PARAM.sub(r"<\1>", path)

        def decorate(view: Callable[..., Reply]) -> Callable[..., Response]:
            @wraps(view)
            def endpoint(**params: str) -> Response:
                if scope is not None:
                    require_scope(scope)
                if body is not None:
                    params["body"] = parse(body, json_body("request body"))  # type: ignore[assignment]
                if query is not None:
                    params["query"] = parse(query, request.args.to_dict(), prefix="query ")  # type: ignore[assignment]
                reply = view(**params)
                return _serialise(reply, responses)

            endpoint_name = f"{method.lower()}_{view.__name__}"
            self.blueprint.add_url_rule(rule, endpoint_name, endpoint, methods=[method])
            return endpoint

        return decorate

    def openapi(self, prefix: str) -> dict[str, Any]:
        components: dict[str, Any] = {}
        paths: dict[str, Any] = {}
        for op in self.operations:
            entry: dict[str, Any] = {
                "summary": op.summary,
                "operationId": f"{op.method.lower()}{_camel(op.path)}",
                "tags": [op.tag],
                "responses": {},
            }
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PARAM.findall(op.path)
            ]
            if op.query is not None:
                schema = _schema(op.query, components, "validation")
                for name, prop in _inline(schema, components).get("properties", {}).items():
                    parameters.append(
                        {"name": name, "in": "query", "required": False, "schema": prop}
                    )
            if parameters:
                entry["parameters"] = parameters
            if op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _schema(op.body, components, "validation")}
                    },
                }
            elif op.request_content is not None:
                entry["requestBody"] = {"required": True, "content": op.request_content}
            if op.scope is not None:
                entry["security"] = [{"bearer": []}]
                entry["description"] = f"Needs a token whose role grants `{op.scope}`."
            for status, model in op.responses.items():
                response: dict[str, Any] = {"description": STATUS_TEXT.get(status, "OK")}
                if model is not None:
                    response["content"] = {
                        "application/json": {"schema": _schema(model, components, "serialization")}
                    }
                entry["responses"][str(status)] = response
            error_schema = _schema(ErrorBody, components, "serialization")
            for status in op.errors:
                entry["responses"][str(status)] = {
                    "description": STATUS_TEXT[status],
                    "content": {"application/json": {"schema": error_schema}},
                }
            paths.setdefault(prefix + op.path, {})[op.method.lower()] = entry
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "bootsvc API",
                "version": "1",
                "description": "Image catalog, CMDB and tokens of a bootsvc boot server.",
            },
            "paths": paths,
            "components": {
                "schemas": components,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }


def _default_errors(
    method: str, path: str, scope: str | None, body: Any, query: Any
) -> tuple[int, ...]:
    codes: list[int] = []
    if body is not None or query is not None or "{" in path:
        codes.append(400)
    if scope is not None:
        codes += [401, 403]
    if "{" in path:
        codes.append(404)
    if method in {"POST", "PUT", "PATCH", "DELETE"}:
        codes.append(409)
    return tuple(codes)


def _camel(path: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", _PARAM.sub(r"by-\1", path))
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def _schema(model: Any, components: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
    components.update(schema.pop("$defs", {}))
    if isinstance(model, type) and issubclass(model, BaseModel):
        components[model.__name__] = schema
        return {"$ref": _REF.format(model=model.__name__)}
    return schema


def _inline(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved: dict[str, Any] = components[ref.rsplit("/", 1)[1]]
        return resolved
    return schema


def _serialise(reply: Reply, responses: dict[int, Any]) -> Response:
    if reply.status not in responses:
        raise BootsvcError(f"undeclared status {reply.status}")
    if reply.body is None:
        return Response(status=reply.status)
    model = responses[reply.status]
    data = TypeAdapter(model).dump_python(reply.body, mode="json")
    response = jsonify(data)
    response.status_code = reply.status
    return response
