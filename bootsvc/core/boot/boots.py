"""Each boot of each node, from its reports: opened when its script is
served, marked when iPXE has loaded the kernel, closed by the system's `up`
(healthy or not) or `failed` report, and abandoned when the next script is
served first. A boot bootsvc refused (a script that boots nothing, and why)
is opened closed. The rows are kept: after a power cut they say which version
every node came back on, how long it took, and which did not come back.

Also when each node was last heard from, by a report or its agent's poll."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from bootsvc.store.models import NodeBoot, NodeSeen
from bootsvc.store.upsert import BuiltUpsert

BOOTING, UP, UNHEALTHY, FAILED, ABANDONED = "booting", "up", "unhealthy", "failed", "abandoned"
REFUSED = "refused"
# The outcomes of a boot that did not bring the node up well.
BAD_OUTCOMES = (FAILED, UNHEALTHY, ABANDONED, REFUSED)
# An agent polling more often than this does not move its "last seen" time:
# a poll is a read, and most polls should stay one.
SEEN_RESOLUTION = timedelta(seconds=60)


def is_healthy(details: dict[str, Any]) -> bool:
    """What an `up` report says of the system: `"healthy"` when it gives it
    (the node agent does); otherwise whether every unit in `"services"` is
    active (the images' boot report lists corosync, pacemaker and so on);
    otherwise healthy, since the system came up far enough to report."""
    if "healthy" in details:
        return details["healthy"] is True
    services = details.get("services")
    if isinstance(services, dict) and services:
        return all(state == "active" for state in services.values())
    return True


_SEEN_TABLE = cast(Table, NodeSeen.__table__)
_SEEN = BuiltUpsert(
    _SEEN_TABLE, [_SEEN_TABLE.c.node_id], lambda new: {"at": new.at, "via": new.via}
)


def seen(session: Session, node_id: int, via: str, now: datetime) -> None:
    """Upsert: two reports of one node at once must both be recorded."""
    _SEEN.run(session, {"node_id": node_id, "at": now, "via": via})


def needs_seen(last: datetime | None, now: datetime) -> bool:
    return last is None or now - last >= SEEN_RESOLUTION


_BOOTS = cast(Table, NodeBoot.__table__)
# Built once, as _SEEN: every script and report runs them.
_CURRENT = (
    select(_BOOTS)
    .where(_BOOTS.c.node_id == bindparam("node_id"))
    .order_by(_BOOTS.c.id.desc())
    .limit(1)
    .with_for_update()
)
_OPEN = insert(_BOOTS)
_CHANGE = update(_BOOTS).where(_BOOTS.c.id == bindparam("boot_id"))


@dataclass(frozen=True)
class StageReport:
    """One boot report, as the node's boots take it."""

    node_id: int | None
    stage: str
    mac: str | None
    ip: str | None
    version_id: int | None
    details: dict[str, Any]


@dataclass
class Boot:
    """A node's boot (its node_boot row) as a report leaves it; `id` is None
    for a boot the report opens."""

    node_id: int
    version_id: int | None
    mac: str | None
    ip: str | None
    outcome: str
    script_at: datetime | None = None
    kernel_at: datetime | None = None
    up_at: datetime | None = None
    ended_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    @classmethod
    def opened(cls, node_id: int, report: StageReport, script_at: datetime | None) -> Boot:
        return cls(node_id, report.version_id, report.mac, report.ip, BOOTING, script_at)


def _current(session: Session, node_id: int) -> Boot | None:
    """The node's newest boot, locked until the transaction ends."""
    row = session.connection().execute(_CURRENT, {"node_id": node_id}).mappings().first()
    return Boot(**row) if row is not None else None


def _store(session: Session, boot: Boot) -> None:
    changed = {
        "version_id": boot.version_id,
        "outcome": boot.outcome,
        "kernel_at": boot.kernel_at,
        "up_at": boot.up_at,
        "ended_at": boot.ended_at,
        "details": boot.details,
    }
    if boot.id is None:
        values = {"node_id": boot.node_id, "mac": boot.mac, "ip": boot.ip}
        session.connection().execute(_OPEN, {**values, "script_at": boot.script_at, **changed})
    else:
        session.connection().execute(_CHANGE, {"boot_id": boot.id, **changed})


def track(session: Session, report: StageReport, now: datetime) -> Boot | None:
    """Apply one report to the node's boots; None for an unknown machine."""
    node_id = report.node_id
    if node_id is None:
        return None
    seen(session, node_id, "report", now)
    current = _current(session, node_id)
    if report.stage in ("script", REFUSED):
        if current is not None and current.outcome == BOOTING:
            current.outcome, current.ended_at = ABANDONED, now
            _store(session, current)
        boot = Boot.opened(node_id, report, script_at=now)
        if report.stage == REFUSED:
            boot.outcome, boot.ended_at, boot.details = REFUSED, now, dict(report.details)
        _store(session, boot)
        return boot
    closed_long_ago = current is not None and current.outcome in {FAILED, ABANDONED}
    if current is None or closed_long_ago:
        # A boot whose script bootsvc did not serve: another server's, or one
        # from before bootsvc's database was reset.
        current = Boot.opened(node_id, report, script_at=None)
    if report.version_id is not None:
        current.version_id = report.version_id
    if report.stage == "kernel-loaded":
        current.kernel_at = current.kernel_at or now
    elif report.stage == "up":
        healthy = is_healthy(report.details)
        current.up_at = current.up_at or now
        current.outcome = UP if healthy else UNHEALTHY
        current.ended_at = current.ended_at or now
        current.details = {**current.details, **report.details}
    elif report.stage == "failed":
        current.outcome, current.ended_at = FAILED, now
        current.details = {**current.details, **report.details}
    _store(session, current)
    return current


def running(session: Session, node_ids: list[int], version_id: int) -> set[int]:
    """The nodes among `node_ids` whose latest boot came up healthy on the version."""
    newest = (
        select(func.max(NodeBoot.id))
        .where(NodeBoot.node_id.in_(node_ids))
        .group_by(NodeBoot.node_id)
    )
    return set(
        session.scalars(
            select(NodeBoot.node_id).where(
                NodeBoot.id.in_(newest), NodeBoot.outcome == UP, NodeBoot.version_id == version_id
            )
        )
    )


def duration_s(script_at: datetime | None, up_at: datetime | None) -> float | None:
    """Script fetch to `up`: what the node spent booting."""
    if script_at is None or up_at is None:
        return None
    return round((up_at - script_at).total_seconds(), 1)


def history(session: Session, node_id: int, limit: int = 50) -> list[NodeBoot]:
    return list(
        session.scalars(
            select(NodeBoot)
            .where(NodeBoot.node_id == node_id)
            .order_by(NodeBoot.id.desc())
            .limit(limit)
        )
    )
