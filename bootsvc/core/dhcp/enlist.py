"""Unknown MACs become `new` nodes in the CMDB (bootsvc.core.cmdb.enlist),
in batches, off the reply path: a DHCP reply never waits for the CMDB, and a
flood of new machines costs one transaction per batch, not one per machine."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.exc import IntegrityError

from bootsvc.core import cmdb
from bootsvc.core.dhcp.batches import Batcher
from bootsvc.core.dhcp.directory import Directory, Known
from bootsvc.logs import event
from bootsvc.net.dhcp.classify import Client
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.dhcp")

MAX_BATCH = 200


def facts(client: Client) -> dict[str, Any]:
    found: dict[str, Any] = {"firmware": client.firmware.value}
    if client.arch is not None:
        found["dhcp_arch"] = client.arch
    if client.vendor_class:
        found["dhcp_vendor_class"] = client.vendor_class
    return found


class Enlister:
    def __init__(self, db: Database, directory: Directory) -> None:
        self.db = db
        self.directory = directory
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._batcher: Batcher[tuple[str, Client]] = Batcher(
            "dhcp-enlister", self._enlist, MAX_BATCH
        )

    def add(self, mac: str, client: Client) -> None:
        """Enlist `mac` soon, unless it is already queued or done."""
        with self._lock:
            if mac in self._seen:
                return
            self._seen.add(mac)
        self._batcher.put((mac, client))

    def stop(self) -> None:
        self._batcher.stop()

    def _enlist(self, batch: list[tuple[str, Client]]) -> None:
        learned: list[tuple[str, Known]] = []
        try:
            with self.db.write() as session:
                for mac, client in batch:
                    try:
                        with session.begin_nested():
                            node = cmdb.find_by_mac(session, mac) or cmdb.enlist(
                                session, mac, facts(client), uuid=client.uuid
                            )
                    except IntegrityError:
                        # Enlisted at the same moment by the HTTP service or
                        # another server: the next CMDB refresh brings it.
                        continue
                    learned.append((mac, Known(node.hostname, None, None)))
        except Exception as exc:
            event(
                log,
                "dhcp.enlist-failed",
                level=logging.ERROR,
                count=len(batch),
                error=f"{type(exc).__name__}: {exc}",
            )
            with self._lock:
                self._seen.difference_update(mac for mac, _ in batch)
            return
        for mac, known in learned:
            self.directory.learn(mac, known)
            event(log, "dhcp.enlisted", mac=mac, node=known.hostname, stage="dhcp")
