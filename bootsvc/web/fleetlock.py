"""FleetLock over HTTP: {base_url}/fleetlock/v1/pre-reboot and
/v1/steady-state. Nodes have no API token: a request must carry the node's
boot token (`Authorization: Bearer`, bootsvc.web.nodeauth), from its own
address, and name that node as its client id; the semaphore then checks
that it asks in its own reboot group."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, jsonify, request

from bootsvc.core.rollout.fleetlock import RebootLocks
from bootsvc.errors import Forbidden
from bootsvc.net import fleetlock
from bootsvc.net.fleetlock import Answer, LockRequest
from bootsvc.web.context import services
from bootsvc.web.nodeauth import booted_node

PREFIX = "/fleetlock"
blueprint = Blueprint("fleetlock", __name__, url_prefix=PREFIX)
# A FleetLock body is a few dozen bytes; read no more than the protocol
# module will look at, whatever Content-Length says.
_READ_LIMIT = 8192


@dataclass
class NodeOwnLocks:
    """The reboot locks, for the node whose boot token came with the request only."""

    locks: RebootLocks

    def _caller(self, client: LockRequest) -> Answer | None:
        try:
            with services().db.read() as session:
                hostname = booted_node(session, "fleetlock").hostname
        except Forbidden as exc:
            return Answer(403, "forbidden", exc.message)
        if hostname != client.id:
            return Answer(403, "forbidden", f"this boot token is {hostname}'s, not {client.id}'s")
        return None

    def lock(self, client: LockRequest) -> Answer:
        return self._caller(client) or self.locks.lock(client)

    def unlock(self, client: LockRequest) -> Answer:
        return self._caller(client) or self.locks.unlock(client)


@blueprint.post("/v1/<operation>")
def operate(operation: str) -> tuple[Response, int]:
    ctx = services()
    body = request.stream.read(_READ_LIMIT)
    headers = {key.lower(): value for key, value in request.headers.items()}
    locks = NodeOwnLocks(RebootLocks(ctx.db, ctx.settings))
    answer = fleetlock.handle(operation, headers, body, locks)
    return jsonify(answer.body()), answer.status
