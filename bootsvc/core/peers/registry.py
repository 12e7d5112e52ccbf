"""Servers register themselves in the database rather than in each other's
settings: a server added or moved needs no change on the others, and the
row says which artifacts its store holds, so a peer asks one that has them."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.models import BootServer, Image, ImageVersion
from bootsvc.store.types import utcnow

# A server not heard from for this many heartbeats is not asked for artifacts.
MISSED_HEARTBEATS = 3


def heartbeat(
    session: Session, url: str, store: ArtifactStore, now: datetime | None = None
) -> None:
    """Say this server is alive and what its store holds."""
    held = sorted(sha for sha, _mtime in store.blobs())
    row = session.get(BootServer, url, with_for_update=True)
    if row is None:
        session.add(BootServer(url=url, heartbeat_at=now or utcnow(), held=held))
        return
    row.heartbeat_at = now or utcnow()
    if row.held != held:
        row.held = held


def peers_for(
    session: Session, sha256: str, own_url: str, period_s: float, now: datetime | None = None
) -> list[str]:
    """Live servers other than this one that may have `sha256`: those that
    said they hold it first, then the others (their last heartbeat may be
    older than the artifact)."""
    since = (now or utcnow()) - timedelta(seconds=period_s * MISSED_HEARTBEATS)
    rows = session.scalars(
        select(BootServer)
        .where(BootServer.url != own_url, BootServer.heartbeat_at >= since)
        .order_by(BootServer.url)
    )
    live = list(rows)
    return [row.url for row in live if sha256 in row.held] + [
        row.url for row in live if sha256 not in row.held
    ]


class ServerView(BaseModel):
    url: str
    heartbeat_at: datetime
    live: bool
    # "image version" for each version whose files are all in its store.
    versions: list[str]
    # Versions with some of their files missing from its store.
    incomplete: list[str]


def status(session: Session, period_s: float, now: datetime | None = None) -> list[ServerView]:
    """Every registered server and the versions it can serve."""
    since = (now or utcnow()) - timedelta(seconds=period_s * MISSED_HEARTBEATS)
    versions = session.scalars(
        select(ImageVersion).join(Image).order_by(Image.name, ImageVersion.id)
    ).all()
    views = []
    for server in session.scalars(select(BootServer).order_by(BootServer.url)):
        held = set(server.held)
        complete, incomplete = [], []
        for version in versions:
            label = f"{version.image.name} {version.version}"
            if all(f.sha256 in held for f in version.files):
                complete.append(label)
            else:
                incomplete.append(label)
        views.append(
            ServerView(
                url=server.url,
                heartbeat_at=server.heartbeat_at,
                live=server.heartbeat_at >= since,
                versions=complete,
                incomplete=incomplete,
            )
        )
    return views
