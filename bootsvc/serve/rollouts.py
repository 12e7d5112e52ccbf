"""The rollout clock, a service process of its own: every `rollout_tick_s`
it stops rollouts whose nodes took too long to report healthy, drops nodes
that left them, and starts waves that are due; and it removes `new` nodes
that never came back (bootsvc.core.cmdb.enlistment). Everything else moves with
the nodes' own reports; this is for what happens when nothing is heard.
Of several servers on one database, only the leader ticks (leadership); every
server's clock says, each tick, that its server is alive and what its store
holds (bootsvc.core.peers.registry)."""

from __future__ import annotations

import logging
import threading

from bootsvc.core.cmdb import enlistment
from bootsvc.core.peers import registry
from bootsvc.core.rollout import rollouts
from bootsvc.logs import event
from bootsvc.serve import signals
from bootsvc.serve.leadership import Leadership
from bootsvc.settings import Settings
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.rollout")


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """Tick until SIGTERM (or until `stop` is set)."""
    stopping = stop or signals.stop_event()
    db = Database(settings.effective_database_url, pool_size=1)
    leadership = Leadership(db)
    store = ArtifactStore(settings.data_dir)
    event(log, "rollout.clock", tick_s=settings.rollout_tick_s)
    try:
        _heartbeat(db, store, settings.base_url)
        while not stopping.wait(settings.rollout_tick_s):
            _heartbeat(db, store, settings.base_url)
            if not leadership.check():
                continue
            try:
                with db.write() as session:
                    rollouts.tick(session, settings.default_image)
                with db.write() as session:
                    enlistment.expire(session, settings.enlist_new_expire_s)
            except Exception as exc:
                # A database that is briefly away must not end the clock.
                event(log, "rollout.tick-failed", level=logging.ERROR, error=repr(exc))
    finally:
        leadership.release()
        db.dispose()


def _heartbeat(db: Database, store: ArtifactStore, url: str) -> None:
    try:
        with db.write() as session:
            registry.heartbeat(session, url, store)
    except Exception as exc:
        event(log, "server.heartbeat-failed", level=logging.ERROR, error=repr(exc))
