"""GET /boot/desired?mac=...&token=...: what a node's agent asks every few
minutes, "which version should I run, and where do I ask for a reboot
slot?". Only the node itself asks, with its boot token (bootsvc.web.nodeauth):
the question counts as hearing from it.

The answer is `key=value` lines, one per field, so that a shell script reads
it without a JSON parser; `Accept: application/json` gets JSON."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from bootsvc.core.boot import bootplan, boots
from bootsvc.core.boot.bootplan import SessionFacts, Target
from bootsvc.core.cmdb.names import mac as normal_mac
from bootsvc.core.rollout.fleetlock import group_of
from bootsvc.errors import InvalidInput, NotFound
from bootsvc.logs import event
from bootsvc.store.models import Node, NodeSeen
from bootsvc.store.types import utcnow
from bootsvc.web.context import services
from bootsvc.web.fleetlock import PREFIX as FLEETLOCK_PREFIX
from bootsvc.web.nodeauth import booted_node

log = logging.getLogger("bootsvc.http")
blueprint = Blueprint("agent", __name__)


def _line(key: str, value: object) -> str:
    text = "" if value is None else str(value)
    return f"{key}={text.replace(chr(10), ' ')}"


@blueprint.get("/boot/desired")
def desired() -> Response:
    ctx = services()
    raw = request.args.get("mac", "").strip()
    if not raw:
        raise InvalidInput("give the node's boot MAC: /boot/desired?mac=...")
    mac = normal_mac(raw)
    now = utcnow()
    with ctx.db.read() as session:
        node = session.get(Node, booted_node(session, "agent", mac).node_id)
        if node is None:
            raise NotFound("the node was removed from the CMDB")
        decided = bootplan.decide(node, SessionFacts(session), ctx.settings.default_image)
        target = decided if isinstance(decided, Target) else None
        node_id, hostname, group = node.id, node.hostname, group_of(node)
        cluster, roles = (node.cluster.name if node.cluster else None), ",".join(node.roles)
        last_seen = session.scalar(select(NodeSeen.at).where(NodeSeen.node_id == node_id))
    if boots.needs_seen(last_seen, now):
        with ctx.db.write() as session:
            boots.seen(session, node_id, "agent", now)
    event(
        log,
        "agent.desired",
        mac=mac,
        ip=request.remote_addr,
        stage="agent",
        node=hostname,
        desired=target.version.label if target else None,
    )
    fields = {
        "hostname": hostname,
        "image": target.version.image if target else "",
        "version": target.version.version if target else "",
        "reason": decided.reason,
        "cluster": cluster,
        "roles": roles,
        "fleetlock_url": ctx.site.api_url + FLEETLOCK_PREFIX,
        "fleetlock_id": hostname,
        "fleetlock_group": group,
    }
    if request.accept_mimetypes.best == "application/json":
        return jsonify(fields)
    text = "".join(_line(key, value) + "\n" for key, value in fields.items())
    return Response(text, mimetype="text/plain", headers={"Cache-Control": "no-store"})
