"""FleetLock over HTTP: {base_url}/fleetlock/v1/pre-reboot and
/v1/steady-state. Nodes have no API token; the semaphore checks that the
client is a known node in its own reboot group."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bootsvc.core.fleetlock import RebootLocks
from bootsvc.net import fleetlock
from bootsvc.web.context import services

PREFIX = "/fleetlock"
blueprint = Blueprint("fleetlock", __name__, url_prefix=PREFIX)
# A FleetLock body is a few dozen bytes; read no more than the protocol
# module will look at, whatever Content-Length says.
_READ_LIMIT = 8192


@blueprint.post("/v1/<operation>")
def operate(operation: str) -> tuple[Response, int]:
    ctx = services()
    body = request.stream.read(_READ_LIMIT)
    headers = {key.lower(): value for key, value in request.headers.items()}
    answer = fleetlock.handle(operation, headers, body, RebootLocks(ctx.db, ctx.settings))
    return jsonify(answer.body()), answer.status
