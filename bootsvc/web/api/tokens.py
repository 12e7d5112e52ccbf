"""API tokens (admin only)."""

from __future__ import annotations

from bootsvc.core.access import tokens
from bootsvc.core.cmdb.records import TokenRecord
from bootsvc.core.views.objects import TokenView, token_view
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.auth import actor
from bootsvc.web.context import services


class CreatedTokenView(TokenView):
    token: str


@registry.route(
    "GET", "/tokens", summary="List tokens", scope="admin", responses={200: list[TokenView]}
)
def list_tokens() -> Reply:
    with services().db.read() as session:
        return Reply([token_view(t) for t in tokens.list_tokens(session)])


@registry.route(
    "POST",
    "/tokens",
    summary="Create a token; the secret is in this reply only",
    scope="admin",
    body=TokenRecord,
    responses={201: CreatedTokenView},
)
def create_token(body: TokenRecord) -> Reply:
    with services().db.write() as session:
        row, secret = tokens.create(session, body, actor())
        view = CreatedTokenView(**token_view(row).model_dump(), token=secret)
        return Reply(view, 201)


@registry.route(
    "DELETE",
    "/tokens/{name}",
    summary="Revoke a token",
    scope="admin",
    responses={200: TokenView},
)
def revoke_token(name: str) -> Reply:
    with services().db.write() as session:
        return Reply(token_view(tokens.revoke(session, name, actor())))
