"""A node's configuration: what it would get if it booted now, and what
changed since it was last served (`bootsvc node render` is the CLI twin)."""

from __future__ import annotations

from pydantic import BaseModel

from bootsvc.core.nodeconfig.preview import ConfigDiffView, NodeConfigView, Previews
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.context import services


class PathQuery(BaseModel):
    path: str | None = None


def _previews() -> Previews:
    ctx = services()
    site = ctx.site
    return Previews(ctx.db, site.template_dir, site.api_url, site.default_image, site.agent)


@registry.route(
    "GET",
    "/nodes/{hostname}/config",
    summary="The files a node would get if it booted now (secrets by path only)",
    scope="read",
    query=PathQuery,
    responses={200: NodeConfigView},
    errors=(409,),
)
def show_config(hostname: str, query: PathQuery) -> Reply:
    return Reply(_previews().files(hostname, query.path))


@registry.route(
    "GET",
    "/nodes/{hostname}/config/diff",
    summary="How a node's files now differ from what it was last served",
    scope="read",
    query=PathQuery,
    responses={200: ConfigDiffView},
    errors=(409,),
)
def diff_config(hostname: str, query: PathQuery) -> Reply:
    return Reply(_previews().diff(hostname, query.path))
