"""Each boot of each node, from its reports: opened when its script is
served, marked when iPXE has loaded the kernel, closed by the system's `up`
(healthy or not) or `failed` report, and abandoned when the next script is
served first. A boot bootsvc refused (a script that boots nothing, and why)
is opened closed. The rows are kept: after a power cut they say which version
every node came back on, how long it took, and which did not come back.

Also when each node was last heard from, by a report or its agent's poll."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from bootsvc.store.models import BootReport, NodeBoot, NodeSeen
from bootsvc.store.upsert import upsert

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
# Built once: every boot report runs it, and building it cost more than running it.
_SEEN = {
    dialect: upsert(
        dialect,
        _SEEN_TABLE,
        [_SEEN_TABLE.c.node_id],
        lambda new: {"at": new.at, "via": new.via},
    )
    for dialect in ("postgresql", "sqlite")
}


def seen(session: Session, node_id: int, via: str, now: datetime) -> None:
    """Upsert: two reports of one node at once must both be recorded."""
    statement = _SEEN[session.get_bind().dialect.name]
    session.execute(statement, {"node_id": node_id, "at": now, "via": via})


def needs_seen(last: datetime | None, now: datetime) -> bool:
    return last is None or now - last >= SEEN_RESOLUTION


def latest(session: Session, node_id: int, lock: bool = False) -> NodeBoot | None:
    query = select(NodeBoot).where(NodeBoot.node_id == node_id).order_by(NodeBoot.id.desc())
    if lock:
        query = query.with_for_update()
    return session.scalar(query.limit(1))


def _open(
    session: Session, node_id: int, report: BootReport, now: datetime, from_script: bool
) -> NodeBoot:
    boot = NodeBoot(
        node_id=node_id,
        version_id=report.version_id,
        mac=report.mac,
        ip=report.ip,
        outcome=BOOTING,
        script_at=now if from_script else None,
        details={},
    )
    session.add(boot)
    return boot


def track(session: Session, report: BootReport, now: datetime) -> NodeBoot | None:
    """Apply one report to the node's boots; None for an unknown machine."""
    node_id = report.node_id
    if node_id is None:
        return None
    seen(session, node_id, "report", now)
    current = latest(session, node_id, lock=True)
    if report.stage in ("script", REFUSED):
        if current is not None and current.outcome == BOOTING:
            current.outcome, current.ended_at = ABANDONED, now
        boot = _open(session, node_id, report, now, from_script=True)
        if report.stage == REFUSED:
            boot.outcome, boot.ended_at, boot.details = REFUSED, now, dict(report.details)
        return boot
    closed_long_ago = current is not None and current.outcome in {FAILED, ABANDONED}
    if current is None or closed_long_ago:
        # A boot whose script bootsvc did not serve: another server's, or one
        # from before bootsvc's database was reset.
        current = _open(session, node_id, report, now, from_script=False)
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
