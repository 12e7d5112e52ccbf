"""Servers on one database say they are alive and what they hold; a peer
asks those that hold an artifact first, and never a silent one."""

from __future__ import annotations

from datetime import timedelta

from bootsvc.core.peers import registry
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import ImageVersion
from bootsvc.store.types import utcnow
from tests.support import factory

A, B, C = "http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.3:8080"
TICK_S = 10.0


def _digests(db: Database) -> list[str]:
    with db.read() as session:
        version = session.query(ImageVersion).one()
        return [f.sha256 for f in version.files]


def test_peers_holding_an_artifact_come_first_and_silent_ones_never(
    db: Database, store: ArtifactStore, tmp_path: object
) -> None:
    factory.version(db, store, "hv", "1")
    sha = _digests(db)[0]
    empty = ArtifactStore(store.root.parent / "empty")
    now = utcnow()
    with db.write() as session:
        registry.heartbeat(session, A, empty, now)
        registry.heartbeat(session, B, store, now)
        registry.heartbeat(session, C, store, now - timedelta(seconds=TICK_S * 4))
    with db.read() as session:
        assert registry.peers_for(session, sha, A, TICK_S, now) == [B]
        assert registry.peers_for(session, sha, B, TICK_S, now) == [A]
        assert registry.peers_for(session, "0" * 64, "http://me", TICK_S, now) == [A, B]


def test_status_shows_which_server_can_serve_which_version(
    db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    partial = ArtifactStore(store.root.parent / "partial")
    first = _digests(db)[0]
    with store.path(first).open("rb") as source:
        partial.ingest(source, first)
    with db.write() as session:
        registry.heartbeat(session, A, store)
        registry.heartbeat(session, B, partial)
    with db.read() as session:
        views = {v.url: v for v in registry.status(session, TICK_S)}
    assert (views[A].versions, views[A].incomplete, views[A].live) == (["hv 1"], [], True)
    assert (views[B].versions, views[B].incomplete) == ([], ["hv 1"])


def test_a_heartbeat_follows_what_the_store_holds(db: Database, store: ArtifactStore) -> None:
    with db.write() as session:
        registry.heartbeat(session, A, store)
    factory.version(db, store, "hv", "1")
    with db.write() as session:
        registry.heartbeat(session, A, store)
    with db.read() as session:
        assert registry.peers_for(session, _digests(db)[0], B, TICK_S) == [A]
        (view,) = registry.status(session, TICK_S)
    assert view.versions == ["hv 1"]
