"""The fleet: status of every node, each node's boots, reboot slots, and the
image assignments of clusters and roles."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.core.boot import boots, fleet
from bootsvc.core.cmdb import assignments, cmdb
from bootsvc.core.cmdb.records import Record
from bootsvc.core.peers import registry as servers
from bootsvc.core.peers.registry import ServerView
from bootsvc.core.rollout import fleetlock
from bootsvc.core.views.fleet import (
    AssignmentView,
    BootView,
    FleetView,
    NodeStatusView,
    boot_view,
)
from bootsvc.errors import NotFound
from bootsvc.store.models import ImageVersion
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.auth import actor
from bootsvc.web.context import services


class FleetQuery(BaseModel):
    cluster: str | None = None


class BootsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=10_000)


class AssignBody(Record):
    image: str = Field(description="IMAGE@CHANNEL")


@registry.route(
    "GET",
    "/fleet",
    summary="Nodes by version, behind their channel, failed, not heard from",
    scope="read",
    query=FleetQuery,
    responses={200: FleetView},
    errors=(404,),
)
def fleet_status(query: FleetQuery) -> Reply:
    ctx = services()
    with ctx.db.read() as session:
        return Reply(fleet.status(session, ctx.settings, query.cluster))


@registry.route(
    "GET",
    "/nodes/{hostname}/status",
    summary="What a node should boot and why, what it booted, how that went",
    scope="read",
    responses={200: NodeStatusView},
)
def node_status(hostname: str) -> Reply:
    ctx = services()
    with ctx.db.read() as session:
        return Reply(fleet.node_status(session, ctx.settings, hostname))


@registry.route(
    "GET",
    "/nodes/{hostname}/boots",
    summary="A node's boots, newest first",
    scope="read",
    query=BootsQuery,
    responses={200: list[BootView]},
)
def node_boots(hostname: str, query: BootsQuery) -> Reply:
    with services().db.read() as session:
        node = cmdb.get_node(session, hostname)
        return Reply(boot_history(session, node.id, query.limit))


def boot_history(session: Session, node_id: int, limit: int) -> list[BootView]:
    """A node's boots, newest first, as the API and the node's page show them."""
    rows = boots.history(session, node_id, limit)
    versions = {
        v.id: v
        for v in session.scalars(
            select(ImageVersion).where(ImageVersion.id.in_({b.version_id for b in rows}))
        )
    }
    return [boot_view(b, versions.get(b.version_id or 0)) for b in rows]


@registry.route(
    "GET",
    "/fleet/servers",
    summary="The boot servers on this database, and the versions each can serve",
    scope="read",
    responses={200: list[ServerView]},
)
def fleet_servers() -> Reply:
    ctx = services()
    with ctx.db.read() as session:
        return Reply(servers.status(session, ctx.settings.rollout_tick_s))


@registry.route(
    "DELETE",
    "/fleet/slots/{hostname}",
    summary="Free the reboot slot of a node that will not come back to free it",
    scope="admin",
    responses={204: None},
)
def release_slot(hostname: str) -> Reply:
    with services().db.write() as session:
        if not fleetlock.release(session, hostname, actor()):
            raise NotFound(f"node {hostname} holds no reboot slot")
    return Reply(status=204)


def _assignments(name: str) -> Reply:
    with services().db.read() as session:
        rows = assignments.list_for(session, name)
    return Reply(
        [
            AssignmentView(cluster=r.cluster, role=r.role, image=f"{r.image}@{r.channel}")
            for r in rows
        ]
    )


@registry.route(
    "GET",
    "/clusters/{name}/assignments",
    summary="The image@channel a cluster and its roles follow",
    scope="read",
    responses={200: list[AssignmentView]},
)
def list_assignments(name: str) -> Reply:
    return _assignments(name)


def _assign(name: str, role: str | None, body: AssignBody) -> Reply:
    with services().db.write() as session:
        assignments.assign(session, name, role, body.image, actor())
    return _assignments(name)


def _unassign(name: str, role: str | None) -> Reply:
    with services().db.write() as session:
        assignments.unassign(session, name, role, actor())
    return _assignments(name)


@registry.route(
    "PUT",
    "/clusters/{name}/image",
    summary="Make every node of a cluster follow IMAGE@CHANNEL (a node's own assignment wins)",
    scope="cmdb",
    body=AssignBody,
    responses={200: list[AssignmentView]},
)
def assign_cluster(name: str, body: AssignBody) -> Reply:
    return _assign(name, None, body)


@registry.route(
    "DELETE",
    "/clusters/{name}/image",
    summary="Remove a cluster's image assignment",
    scope="cmdb",
    responses={200: list[AssignmentView]},
)
def unassign_cluster(name: str) -> Reply:
    return _unassign(name, None)


@registry.route(
    "PUT",
    "/clusters/{name}/roles/{role}/image",
    summary="Make the nodes of one role in a cluster follow IMAGE@CHANNEL",
    scope="cmdb",
    body=AssignBody,
    responses={200: list[AssignmentView]},
)
def assign_role(name: str, role: str, body: AssignBody) -> Reply:
    return _assign(name, role, body)


@registry.route(
    "DELETE",
    "/clusters/{name}/roles/{role}/image",
    summary="Remove a role's image assignment",
    scope="cmdb",
    responses={200: list[AssignmentView]},
)
def unassign_role(name: str, role: str) -> Reply:
    return _unassign(name, role)
