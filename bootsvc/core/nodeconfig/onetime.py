"""One-time tokens for secrets. A node script fetched from the node's own
address (bootsvc.core.access.nodeaccess) carries a fresh token and revokes the
node's older ones; the node presents it with its secrets request, which must
come from that address (and, when bootsvc runs DHCP, one bootsvc still
leases to the node). A token expires, and the first request that presents it
spends it, whatever else goes wrong after. Spent and expired tokens are
deleted; only a digest is stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from bootsvc.core.access.nodeaccess import Refused
from bootsvc.store.models import Node, SecretToken
from bootsvc.store.types import utcnow

LeaseCheck = Callable[[Session, int, str], bool]


@dataclass(frozen=True)
class Minted:
    secret: str
    node_id: int
    mac: str | None
    ip: str | None
    expires_at: datetime

    @property
    def digest(self) -> str:
        return digest(self.secret)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint(node_id: int, mac: str | None, ip: str | None, ttl_s: int) -> Minted:
    return Minted(secrets.token_urlsafe(32), node_id, mac, ip, utcnow() + timedelta(seconds=ttl_s))


_TOKENS = cast(Table, SecretToken.__table__)
# Built once: every script and secrets request runs them.
_REVOKE = delete(_TOKENS).where(
    (_TOKENS.c.node_id == bindparam("node_id")) | (_TOKENS.c.expires_at <= bindparam("now"))
)
_KEEP = insert(_TOKENS)
_TOKEN = select(_TOKENS).where(_TOKENS.c.digest == bindparam("digest")).with_for_update()
_NODE_ID = select(Node.id).where(Node.hostname == bindparam("hostname"))
_SPEND = delete(_TOKENS).where(_TOKENS.c.digest == bindparam("digest"))


def store(session: Session, minted: Minted) -> None:
    """Keep `minted` as the node's one live token."""
    now = utcnow()
    connection = session.connection()
    connection.execute(_REVOKE, {"node_id": minted.node_id, "now": now})
    connection.execute(
        _KEEP,
        {
            "digest": minted.digest,
            "node_id": minted.node_id,
            "mac": minted.mac,
            "ip": minted.ip,
            "created_at": now,
            "expires_at": minted.expires_at,
        },
    )


@dataclass(frozen=True)
class Spent:
    node_id: int
    mac: str | None


def spend(
    session: Session, hostname: str, secret: str, ip: str | None, leased: LeaseCheck | None
) -> Spent:
    """The token's node and MAC once it is checked and spent; Refused otherwise."""
    if not secret:
        raise Refused("no token")
    connection = session.connection()
    token = connection.execute(_TOKEN, {"digest": digest(secret)}).first()
    if token is None:
        raise Refused("unknown, spent or replaced token")
    node_id = connection.scalar(_NODE_ID, {"hostname": hostname})
    if node_id is None or node_id != token.node_id:
        raise Refused("token of another node")
    if token.expires_at <= utcnow():
        raise Refused("token expired")
    if token.ip and token.ip != ip:
        raise Refused("request from another address than the one the script went to")
    if leased is not None and (ip is None or not leased(session, node_id, ip)):
        raise Refused("address not leased to this node by bootsvc")
    spent = connection.execute(_SPEND, {"digest": token.digest})
    if spent.rowcount != 1:
        raise Refused("unknown, spent or replaced token")
    return Spent(node_id, token.mac)
