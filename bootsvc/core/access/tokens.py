"""API bearer tokens. Only a sha256 of each token is stored: the token itself
is shown once, at creation, and never logged."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.core import audit
from bootsvc.core.cmdb.records import TokenRecord
from bootsvc.errors import Conflict, NotFound
from bootsvc.store.models import ApiToken
from bootsvc.store.types import utcnow

PREFIX = "bsv_"

# What each role may do: admin everything; cmdb reads everything and writes
# nodes and clusters; reader only reads.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "cmdb", "admin"}),
    "cmdb": frozenset({"read", "cmdb"}),
    "reader": frozenset({"read"}),
}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, record: TokenRecord, actor: str) -> tuple[ApiToken, str]:
    if session.scalar(select(ApiToken.id).where(ApiToken.name == record.name)) is not None:
        raise Conflict(f"a token named {record.name!r} already exists")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=record.name, role=record.role, token_hash=digest(secret), created_by=actor
    )
    session.add(token)
    session.flush()
    audit.record(session, actor, "token.create", f"token/{record.name}", to_value=record.role)
    return token, secret


def revoke(session: Session, name: str, actor: str) -> ApiToken:
    token = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise NotFound(f"token {name!r} does not exist")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor, "token.revoke", f"token/{name}")
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def authenticate(session: Session, secret: str) -> ApiToken | None:
    if not secret.startswith(PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return token
