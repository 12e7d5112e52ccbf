"""Enlisting machines nobody registered, within limits, so that strangers on
the provisioning network cannot fill the CMDB: at most `enlist_max_new`
nodes wait in state `new`, each source address enlists at most
`enlist_rate_per_minute` machines (over HTTP and TFTP, where the address is
known; a DHCP request's is not), and `new` nodes that never come back
expire. Every refusal and expiry is logged and counted (`fleet status`)."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bootsvc.core import audit
from bootsvc.core.boot import boots
from bootsvc.core.cmdb import cmdb
from bootsvc.core.views.fleet import EnlistmentView, TallyView
from bootsvc.errors import Conflict
from bootsvc.logs import event
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.store.models import EnlistmentCount, Node, NodeSeen
from bootsvc.store.types import utcnow
from bootsvc.store.upsert import upsert_row

log = logging.getLogger("bootsvc.enlist")

CAP, RATE, EXPIRED = "cap", "rate", "expired"
# An admin's change through the CMDB moves a node's updated_at; enlisting
# sets it together with created_at, a moment apart.
_UNTOUCHED_WITHIN = timedelta(seconds=1)
# Buckets kept per process: beyond this the least recently used is dropped.
MAX_ADDRESSES = 10_000


def _default(name: str) -> int:
    return int(Settings.model_fields[name].default)


class RateLimiter:
    """A token bucket per source address: `burst` enlistments at once, then
    `per_minute`. The buckets live in this process's memory, so each server
    process (each HTTP worker, the TFTP service) limits on its own. At most
    `max_addresses` are kept, the least recently used dropped first: a
    dropped address starts again with a full burst."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.per_second = per_minute / 60
        self.burst = float(burst)
        self.clock = clock
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        """Take one enlistment from `address`'s bucket, if it holds one."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(address, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.per_second)
            allowed = tokens >= 1
            self._buckets[address] = (tokens - 1 if allowed else tokens, now)
            if len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        return allowed


class Enlistment:
    """What one server process lets enlist: the cap on `new` nodes (shared
    by all servers through the database) and, when the source address is
    known (`per_address`), its own rate limit."""

    def __init__(
        self,
        max_new: int = _default("enlist_max_new"),
        rate_per_minute: int = _default("enlist_rate_per_minute"),
        burst: int = _default("enlist_burst"),
        clock: Callable[[], float] = time.monotonic,
        per_address: bool = True,
    ) -> None:
        self.max_new = max_new
        self.limiter = RateLimiter(rate_per_minute, burst, clock) if per_address else None

    @classmethod
    def from_settings(cls, settings: Settings, per_address: bool = True) -> Enlistment:
        return cls(
            settings.enlist_max_new,
            settings.enlist_rate_per_minute,
            settings.enlist_burst,
            per_address=per_address,
        )

    def admit(self, session: Session, mac: str, ip: str | None, stage: str) -> str | None:
        """None if the machine `mac` asking from `ip` may be enlisted now;
        otherwise why not, once the refusal is counted and logged. Servers
        enlisting at the same moment may each pass the cap by one."""
        if self.limiter is not None and not self.limiter.allow(ip or ""):
            limit = f"{self.limiter.burst:.0f} then {self.limiter.per_second * 60:.0f}/min"
            source = ip or "an unknown address"
            why = f"more enlistments from {source} than {limit}"
            return _refuse(session, RATE, mac, ip, stage, why)
        waiting = count_new(session)
        if waiting >= self.max_new:
            return _refuse(session, CAP, mac, ip, stage, f"{waiting} nodes already wait as new")
        return None


def enlist_unknown(
    session: Session,
    limits: Enlistment,
    mac: str,
    facts: dict[str, Any],
    stage: str,
    ip: str | None = None,
    uuid: str | None = None,
    serial: str | None = None,
    asset_tag: str | None = None,
) -> Node | str | None:
    """The unknown machine `mac` as a `new` node, or why the limits refuse it.
    None when another server enlisted it at the same moment: the loser of the
    race on the MAC's unique index finds the winner's node on its next read."""
    refused = limits.admit(session, mac, ip, stage)
    if refused:
        return refused
    try:
        with session.begin_nested():
            return cmdb.enlist(session, mac, facts, uuid=uuid, serial=serial, asset_tag=asset_tag)
    except IntegrityError:
        return None


def count_new(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Node).where(Node.state == "new")) or 0


def _refuse(session: Session, kind: str, mac: str, ip: str | None, stage: str, why: str) -> str:
    _tally(session, kind, 1, mac, ip, utcnow())
    event(log, "enlist.refused", logging.WARNING, mac=mac, ip=ip, stage=stage, reason=kind)
    return f"not enlisted: {why}"


def _tally(
    session: Session, kind: str, count: int, mac: str | None, ip: str | None, now: datetime
) -> None:
    """Upsert: refusals in several processes at once must all be counted."""
    last = {"last_at": now, "last_mac": mac, "last_ip": ip}
    row = {"kind": kind, "count": count, **last}
    upsert_row(
        session, EnlistmentCount, ["kind"], row, {"count": EnlistmentCount.count + count, **last}
    )


def heard(db: Database, session: Session, node_id: int, state: str) -> None:
    """A `new` node asking for its script again is heard from, so it does
    not expire; at most one write per boots.SEEN_RESOLUTION. `session` is
    the caller's read."""
    if state != "new":
        return
    now = utcnow()
    last = session.scalar(select(NodeSeen.at).where(NodeSeen.node_id == node_id))
    if not boots.needs_seen(last, now):
        return
    try:
        with db.write() as writer:
            boots.seen(writer, node_id, "script", now)
    except Conflict:
        # Expired a moment ago: its next request enlists it again.
        return


def _mac(node: Node) -> str | None:
    return node.interfaces[0].mac if node.interfaces else None


def _untouched(node: Node) -> bool:
    return (
        not node.roles
        and node.facts.get("enlisted_by") == "boot"
        and node.updated_at - node.created_at < _UNTOUCHED_WITHIN
    )


def expire(session: Session, after_s: int, now: datetime | None = None) -> int:
    """Delete the `new` nodes enlisted at boot that no admin has touched
    (accepted, renamed, given a cluster, role or image) and that nobody
    has heard from in `after_s` seconds. Returns how many."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=after_s)
    stale = (
        select(Node)
        .outerjoin(NodeSeen, NodeSeen.node_id == Node.id)
        .where(
            Node.state == "new",
            Node.cluster_id.is_(None),
            Node.image_id.is_(None),
            Node.channel.is_(None),
            Node.pinned_version_id.is_(None),
            Node.reset_id.is_(None),
            Node.created_at < cutoff,
            or_(NodeSeen.at.is_(None), NodeSeen.at < cutoff),
        )
        .order_by(Node.id)
        # An admin accepting one at this moment waits, or takes it out of this list.
        .with_for_update(of=Node)
    )
    removed = [(node, _mac(node)) for node in session.scalars(stale) if _untouched(node)]
    for node, mac in removed:
        audit.record(session, "bootsvc", "node.expire", f"node/{node.hostname}", mac)
        session.delete(node)
    if removed:
        _tally(session, EXPIRED, len(removed), removed[-1][1], None, now)
        session.flush()
        event(log, "enlist.expired", count=len(removed), after_s=after_s)
    return len(removed)


def stats(session: Session, settings: Settings) -> EnlistmentView:
    return EnlistmentView(
        new=count_new(session),
        max_new=settings.enlist_max_new,
        rate_per_minute=settings.enlist_rate_per_minute,
        burst=settings.enlist_burst,
        expire_after_s=settings.enlist_new_expire_s,
        tallies={
            row.kind: TallyView(
                count=row.count, last_at=row.last_at, last_mac=row.last_mac, last_ip=row.last_ip
            )
            for row in session.scalars(select(EnlistmentCount).order_by(EnlistmentCount.kind))
        },
    )
