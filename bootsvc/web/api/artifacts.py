"""Artifact upload: the first step of creating a version through the API.
Bodies are streamed into the store, never held in memory."""

from __future__ import annotations

from flask import request
from pydantic import BaseModel

from bootsvc.core.catalog import catalog
from bootsvc.core.cmdb.records import Sha256
from bootsvc.errors import InvalidInput, PayloadTooLarge
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.context import services


class ArtifactView(BaseModel):
    sha256: str
    size: int


class UploadQuery(BaseModel):
    sha256: Sha256 | None = None


@registry.route(
    "POST",
    "/artifacts",
    summary="Upload an artifact (raw body); optional ?sha256= is checked",
    scope="admin",
    query=UploadQuery,
    request_content={
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    },
    responses={201: ArtifactView},
    errors=(413, 422),
)
def upload(query: UploadQuery) -> Reply:
    ctx = services()
    limit = ctx.settings.max_upload_bytes
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"upload is larger than {limit} bytes")
    if request.content_length == 0:
        raise InvalidInput("upload is empty")
    blob = ctx.store.ingest(request.stream, query.sha256, max_bytes=limit)
    with ctx.db.write() as session:
        catalog.register_artifact(session, blob.sha256, blob.size)
    return Reply(ArtifactView(sha256=blob.sha256, size=blob.size), 201)
