"""Clusters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord, Domain, NetworkRecord, Record
from bootsvc.core.views.objects import ClusterView, cluster_view
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.auth import actor
from bootsvc.web.context import services


class ClusterUpsertView(BaseModel):
    cluster: ClusterView
    created: bool
    changed: bool


class ClusterPatch(Record):
    """`settings` entries are merged (null removes a key); `networks`, when
    given, replace the cluster's."""

    domain: Domain | None = None
    networks: list[NetworkRecord] | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


@registry.route(
    "GET", "/clusters", summary="List clusters", scope="read", responses={200: list[ClusterView]}
)
def list_clusters() -> Reply:
    with services().db.read() as session:
        return Reply([cluster_view(c) for c in cmdb.list_clusters(session)])


@registry.route(
    "POST",
    "/clusters",
    summary="Create or update a cluster by name (idempotent)",
    scope="cmdb",
    body=ClusterRecord,
    responses={200: ClusterUpsertView, 201: ClusterUpsertView},
)
def upsert_cluster(body: ClusterRecord) -> Reply:
    with services().db.write() as session:
        result = cmdb.upsert_cluster(session, body, actor())
        view = ClusterUpsertView(
            cluster=cluster_view(result.cluster), created=result.created, changed=result.changed
        )
        return Reply(view, 201 if result.created else 200)


@registry.route(
    "GET", "/clusters/{name}", summary="Show a cluster", scope="read", responses={200: ClusterView}
)
def show_cluster(name: str) -> Reply:
    with services().db.read() as session:
        return Reply(cluster_view(cmdb.get_cluster(session, name)))


@registry.route(
    "PATCH",
    "/clusters/{name}",
    summary="Change a cluster's domain, networks or settings",
    scope="cmdb",
    body=ClusterPatch,
    responses={200: ClusterView},
)
def patch_cluster(name: str, body: ClusterPatch) -> Reply:
    with services().db.write() as session:
        cluster = cmdb.patch_cluster(
            session, name, actor(), body.domain, body.networks, body.settings
        )
        return Reply(cluster_view(cluster))


@registry.route(
    "DELETE",
    "/clusters/{name}",
    summary="Remove a cluster that has no members",
    scope="cmdb",
    responses={204: None},
)
def remove_cluster(name: str) -> Reply:
    with services().db.write() as session:
        cmdb.remove_cluster(session, name, actor())
    return Reply(status=204)
