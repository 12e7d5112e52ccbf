"""Boot endpoints. Firmware has no API token: a script goes to whoever asks, and what a
booted node says counts only with its boot token (bootsvc.web.nodeauth)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from bootsvc.core.boot import bootscript, reports, secureboot
from bootsvc.core.boot.bootscript import Machine, ScriptFormat
from bootsvc.core.cmdb.names import unicast_mac
from bootsvc.core.cmdb.records import refuse_oversized, refuse_unstorable
from bootsvc.errors import InvalidInput, PayloadTooLarge
from bootsvc.logs import event
from bootsvc.web.context import services
from bootsvc.web.identity import machine_from_query
from bootsvc.web.jsonbody import json_object
from bootsvc.web.nodeauth import booted_node

log = logging.getLogger("bootsvc.http")
blueprint = Blueprint("boot", __name__)

IPXE_TYPE = "text/plain; charset=utf-8"


def _script(text: str) -> Response:
    return Response(text, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@blueprint.get("/boot.ipxe")
def first_script() -> Response:
    event(log, "boot.first-script", ip=request.remote_addr, stage="boot.ipxe")
    return _script(bootscript.first_script(services().site.for_client(request.remote_addr)))


def _node_script(machine: Machine, loader: ScriptFormat) -> Response:
    ctx = services()
    if request.args.get("preview") == "1":
        # An admin's look (curl), not a boot: see preview_node_script.
        event(log, "boot.preview", mac=machine.mac, ip=machine.ip, stage="preview")
        return _script(bootscript.preview_node_script(ctx.db, ctx.site, machine, loader))
    return _script(bootscript.deliver_node_script(ctx.db, ctx.site, machine, log, loader).text)


@blueprint.get("/boot/node.ipxe")
def node_script() -> Response:
    machine = machine_from_query(request.args.to_dict(), request.remote_addr)
    return _node_script(machine, bootscript.IPXE)


@blueprint.get("/" + secureboot.GRUB_NODE_CONFIG.format(mac="<mac>"))
def grub_node_config(mac: str) -> Response:
    """The HTTP twin of the TFTP name the signed GRUB fetches; a malformed
    or group MAC is a 400."""
    query = {"mac": unicast_mac(mac), "arch": request.args.get("arch", "")}
    machine = machine_from_query(query, request.remote_addr)
    return _node_script(machine, bootscript.GRUB)


def _report_fields() -> dict[str, Any]:
    if request.method == "GET":
        data: Any = request.args.to_dict()
    else:
        data = json_object("report body")
    refuse_unstorable(data, "report")
    return dict(data)


def _details(fields: dict[str, Any], limit: int) -> dict[str, Any]:
    details = fields.get("details") or {}
    if not isinstance(details, dict):
        raise InvalidInput("details must be a JSON object")
    refuse_oversized(details, limit, "details", "report_max_details_bytes")
    return details


@blueprint.route("/boot/report", methods=["GET", "POST"])
def report() -> Response:
    ctx = services()
    fields = _report_fields()
    stage = str(fields.get("stage", ""))
    if stage not in reports.STAGES:
        raise InvalidInput(f"stage must be one of {', '.join(reports.STAGES)}")
    try:
        mac = unicast_mac(str(fields.get("mac", "")))
        details = _details(fields, ctx.settings.report_max_details_bytes)
    except (InvalidInput, PayloadTooLarge) as exc:
        event(
            log,
            "boot.report_refused",
            logging.WARNING,
            ip=request.remote_addr,
            stage=stage,
            error=exc.message[:200],
        )
        raise
    image, version = fields.get("image"), fields.get("version")
    with ctx.db.write() as session:
        caller = booted_node(session, stage, mac)
        version_id = (
            reports.version_id_of(session, str(image), str(version)) if image and version else None
        )
        reports.record(
            session,
            stage,
            mac,
            request.remote_addr,
            node_id=caller.node_id,
            version_id=version_id,
            details=details,
        )
        hostname = caller.hostname
    event(
        log,
        "boot.report",
        mac=mac,
        ip=request.remote_addr,
        stage=stage,
        node=hostname,
        image=image,
        version=version,
    )
    if request.method == "GET":
        return Response("ok\n", mimetype="text/plain")
    return jsonify({"recorded": True, "node": hostname})
