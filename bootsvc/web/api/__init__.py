"""The REST API, /api/v1."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bootsvc.web.apidoc import ApiRegistry

PREFIX = "/api/v1"

blueprint = Blueprint("api", __name__, url_prefix=PREFIX)
registry = ApiRegistry(blueprint)


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(registry.openapi(PREFIX))


def register_all() -> Blueprint:
    """Import every route module once, so their declarations land in the registry."""
    from bootsvc.web.api import (  # noqa: F401
        artifacts,
        clusters,
        events,
        fleet,
        images,
        nodeconfig,
        nodes,
        rollouts,
        tokens,
        tpm,
    )

    return blueprint
