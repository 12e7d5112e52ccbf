"""Nodes: the CMDB integrations' side of the API."""

from __future__ import annotations

from typing import Literal

from flask import request
from pydantic import BaseModel, Field

from bootsvc.core.cmdb import cmdb, disks, nodefile
from bootsvc.core.cmdb.records import NodeRecord
from bootsvc.core.views.objects import NodeView, node_view
from bootsvc.errors import InvalidInput, UnsupportedMediaType
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.auth import actor
from bootsvc.web.context import services


class NodeQuery(BaseModel):
    cluster: str | None = None
    state: Literal["new", "active", "disabled"] | None = None


class NodeUpsert(NodeRecord):
    replace: bool = Field(
        default=False,
        description="Rename the node, or move to it a MAC, IP, serial or UUID another node "
        "holds, rather than refuse with 409",
    )


class ImportQuery(BaseModel):
    replace: bool = False


class NodeUpsertView(BaseModel):
    node: NodeView
    created: bool
    changed: bool


class ImportView(BaseModel):
    created: int
    updated: int
    unchanged: int


@registry.route(
    "GET",
    "/nodes",
    summary="List nodes",
    scope="read",
    query=NodeQuery,
    responses={200: list[NodeView]},
)
def list_nodes(query: NodeQuery) -> Reply:
    with services().db.read() as session:
        found = cmdb.list_nodes(session, query.cluster, query.state)
        return Reply([node_view(node) for node in found])


@registry.route(
    "POST",
    "/nodes",
    summary="Create or update a node, matched by hostname, MAC or serial (idempotent)",
    scope="cmdb",
    body=NodeUpsert,
    responses={200: NodeUpsertView, 201: NodeUpsertView},
)
def upsert_node(body: NodeUpsert) -> Reply:
    ctx = services()
    with ctx.db.write() as session:
        result = cmdb.upsert_node(
            session,
            body,
            actor(),
            replace=body.replace,
            max_facts_bytes=ctx.settings.cmdb_max_facts_bytes,
        )
        view = NodeUpsertView(
            node=node_view(result.node), created=result.created, changed=result.changed
        )
        return Reply(view, 201 if result.created else 200)


@registry.route(
    "POST",
    "/nodes/import",
    summary="Import many nodes from JSON, YAML or CSV; all or nothing",
    scope="cmdb",
    query=ImportQuery,
    request_content={
        "application/json": {
            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/NodeRecord"}}
        },
        "application/yaml": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
    },
    responses={200: ImportView},
    errors=(413, 415),
)
def import_nodes(query: ImportQuery) -> Reply:
    try:
        fmt = nodefile.format_for(None, request.content_type)
    except InvalidInput:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {request.content_type!r}: send application/json, "
            "application/yaml or text/csv"
        ) from None
    try:
        text = request.get_data(cache=False).decode()
    except UnicodeDecodeError:
        raise InvalidInput("body is not UTF-8 text") from None
    records = nodefile.parse_nodes(text, fmt)
    ctx = services()
    with ctx.db.write() as session:
        results = cmdb.import_nodes(
            session,
            records,
            actor(),
            replace=query.replace,
            max_facts_bytes=ctx.settings.cmdb_max_facts_bytes,
        )
    created = sum(r.created for r in results)
    updated = sum(r.changed and not r.created for r in results)
    return Reply(
        ImportView(created=created, updated=updated, unchanged=len(results) - created - updated)
    )


@registry.route(
    "GET", "/nodes/{hostname}", summary="Show a node", scope="read", responses={200: NodeView}
)
def show_node(hostname: str) -> Reply:
    with services().db.read() as session:
        return Reply(node_view(cmdb.get_node(session, hostname)))


@registry.route(
    "PATCH",
    "/nodes/{hostname}",
    summary="Change a node's fields; interfaces, when given, replace the node's",
    scope="cmdb",
    body=NodeUpsert,
    responses={200: NodeView},
)
def patch_node(hostname: str, body: NodeUpsert) -> Reply:
    ctx = services()
    with ctx.db.write() as session:
        node = cmdb.patch_node(
            session,
            hostname,
            body,
            actor(),
            replace=body.replace,
            max_facts_bytes=ctx.settings.cmdb_max_facts_bytes,
        )
        return Reply(node_view(node))


@registry.route(
    "DELETE", "/nodes/{hostname}", summary="Remove a node", scope="cmdb", responses={204: None}
)
def remove_node(hostname: str) -> Reply:
    with services().db.write() as session:
        cmdb.remove_node(session, hostname, actor())
    return Reply(status=204)


@registry.route(
    "POST",
    "/nodes/{hostname}/accept",
    summary="Accept a node enlisted by its first boot, so that it boots its image",
    scope="admin",
    responses={200: NodeView},
)
def accept_node(hostname: str) -> Reply:
    with services().db.write() as session:
        node, _changed = cmdb.set_state(session, hostname, "active", actor())
        return Reply(node_view(node))


@registry.route(
    "POST",
    "/nodes/{hostname}/reset",
    summary="Factory-reset a node at its next boot: its state partition and OSD devices "
    "are wiped (idempotent while pending)",
    scope="admin",
    responses={200: NodeView},
)
def request_reset(hostname: str) -> Reply:
    with services().db.write() as session:
        change = disks.request_reset(session, hostname, actor())
        return Reply(node_view(change.node))


@registry.route(
    "DELETE",
    "/nodes/{hostname}/reset",
    summary="Cancel a node's pending factory reset",
    scope="admin",
    responses={200: NodeView},
)
def cancel_reset(hostname: str) -> Reply:
    with services().db.write() as session:
        change = disks.cancel_reset(session, hostname, actor())
        return Reply(node_view(change.node))
