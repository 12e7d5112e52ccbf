"""Unknown MACs become `new` nodes in the CMDB, within the enlistment cap
(bootsvc.core.cmdb.enlistment), off the reply path: a DHCP reply never
waits for the CMDB, and is the same whether the MAC is enlisted or not.

Enlisting costs a millisecond or two of CPU per machine, and on SQLite its
transaction needs the one write lock that lease commits need too. So the
lease writer does it between lease commits, in small batches, and it rests
between batches: while leases are being committed it takes at most 5 % of
the time, so a flood of new machines is answered at full speed and enlisted
over the following minutes.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bootsvc.core.cmdb import cmdb, enlistment
from bootsvc.core.cmdb.enlistment import Enlistment
from bootsvc.core.dhcp.directory import Directory, Known
from bootsvc.logs import event
from bootsvc.net.dhcp.classify import Client
from bootsvc.store.db import Database

log = logging.getLogger("bootsvc.dhcp")

MAX_BATCH = 2
# The share of time enlisting may take while DHCP is busy, and while quiet.
BUSY_SHARE = 0.05
QUIET_SHARE = 0.5
BUSY_WITHIN_SECONDS = 0.5


def facts(client: Client) -> dict[str, Any]:
    found: dict[str, Any] = {"firmware": client.firmware.value}
    if client.arch is not None:
        found["dhcp_arch"] = client.arch
    if client.vendor_class:
        found["dhcp_vendor_class"] = client.vendor_class
    return found


class Enlister:
    """A queue of MACs to enlist, worked off by `step`, which the lease
    writer calls when it has no lease change to commit. A MAC the cap
    refuses is not tried again by this process: its first HTTP boot is."""

    def __init__(
        self,
        db: Database,
        directory: Directory,
        wake: Callable[[], None],
        busy: Callable[[float], bool],
        limits: Enlistment,
    ) -> None:
        """`wake` tells the lease writer there is work; `busy(seconds)` says
        whether it committed leases that recently."""
        self.db = db
        self.directory = directory
        self.limits = limits
        self._wake = wake
        self._busy = busy
        self._queue: dict[str, Client] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._resume = 0.0

    def add(self, mac: str, client: Client) -> None:
        """Enlist `mac` soon, unless it is already queued or done."""
        with self._lock:
            if mac in self._seen:
                return
            self._seen.add(mac)
            self._queue[mac] = client
        self._wake()

    def step(self) -> float | None:
        """Enlist one batch, if it is time; returns the seconds until the
        next step is due, None when the queue is empty."""
        now = time.monotonic()
        with self._lock:
            if not self._queue:
                return None
            if now < self._resume:
                return self._resume - now
            batch = list(itertools.islice(self._queue.items(), MAX_BATCH))
            for mac, _ in batch:
                del self._queue[mac]
        self._write(batch)
        spent = time.monotonic() - now
        share = BUSY_SHARE if self._busy(BUSY_WITHIN_SECONDS) else QUIET_SHARE
        self._resume = now + spent / share
        return spent / share - spent

    def _write(self, batch: list[tuple[str, Client]]) -> None:
        learned: list[tuple[str, Known, bool]] = []
        try:
            with self.db.write() as session:
                for mac, client in batch:
                    node = cmdb.find_by_mac(session, mac)
                    created = node is None
                    if node is None:
                        outcome = enlistment.enlist_unknown(
                            session, self.limits, mac, facts(client), "dhcp", uuid=client.uuid
                        )
                        if outcome is None or isinstance(outcome, str):
                            continue
                        node = outcome
                    learned.append((mac, Known(node.hostname, None, None), created))
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
        for mac, known, created in learned:
            self.directory.learn(mac, known)
            if created:
                event(log, "dhcp.enlisted", mac=mac, node=known.hostname, stage="dhcp")
