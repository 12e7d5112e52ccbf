"""Bearer tokens on the API. The token is looked up by its hash; the secret
itself is never stored or logged."""

from __future__ import annotations

from flask import g, request

from bootsvc.core.access import tokens
from bootsvc.errors import Forbidden, Unauthorized
from bootsvc.web.context import services


def require_scope(scope: str) -> None:
    header = request.headers.get("Authorization", "")
    kind, _, secret = header.partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise Unauthorized("this route needs an API token: Authorization: Bearer <token>")
    with services().db.read() as session:
        token = tokens.authenticate(session, secret.strip())
        if token is None:
            raise Unauthorized("the token is unknown or revoked")
        name, role = token.name, token.role
    g.token_name = name
    check_scope(name, role, scope)


def check_scope(name: str, role: str, scope: str) -> None:
    """The API and the admin pages refuse an action with the same words."""
    if scope not in tokens.ROLE_SCOPES[role]:
        raise Forbidden(f"token {name!r} has role {role!r}, which does not allow {scope!r}")


def actor() -> str:
    """Who is acting, for audit entries."""
    return f"token:{g.get('token_name', 'anonymous')}"
