"""A node's TPM endorsement key: registered by an admin, or enrolled at boot
and accepted by one (bootsvc.core.attestation.registry)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bootsvc.core.attestation import registry as tpm_registry
from bootsvc.core.cmdb.records import Record
from bootsvc.core.views.objects import NodeView, node_view
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.auth import actor
from bootsvc.web.context import services


class TpmRecord(Record):
    ek_public: str = Field(description="the endorsement key, PEM (tpm2_createek -f pem)")


class AcceptQuery(BaseModel):
    ek_sha256: str | None = Field(
        default=None, description="accept only if the pending key has this fingerprint"
    )


@registry.route(
    "PUT",
    "/nodes/{hostname}/tpm",
    summary="Register a node's TPM endorsement key, accepted at once; its secrets then "
    "go only sealed to that TPM",
    scope="admin",
    body=TpmRecord,
    responses={200: NodeView},
)
def register_tpm(hostname: str, body: TpmRecord) -> Reply:
    with services().db.write() as session:
        change = tpm_registry.register(session, hostname, body.ek_public, actor())
        return Reply(node_view(change.node))


@registry.route(
    "POST",
    "/nodes/{hostname}/tpm/accept",
    summary="Accept the TPM key a node enrolled at its first boot",
    scope="admin",
    query=AcceptQuery,
    responses={200: NodeView},
)
def accept_tpm(hostname: str, query: AcceptQuery) -> Reply:
    with services().db.write() as session:
        change = tpm_registry.accept(session, hostname, actor(), query.ek_sha256)
        return Reply(node_view(change.node))


@registry.route(
    "DELETE",
    "/nodes/{hostname}/tpm",
    summary="Forget a node's TPM key (it may enroll again if it expects one)",
    scope="admin",
    responses={200: NodeView},
)
def forget_tpm(hostname: str) -> Reply:
    with services().db.write() as session:
        change = tpm_registry.forget(session, hostname, actor())
        return Reply(node_view(change.node))
