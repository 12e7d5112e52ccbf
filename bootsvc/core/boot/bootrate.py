"""Boots and failed boots per minute over the last hours: the plot on the
fleet page. A boot counts in the minute its script was served."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.core.boot import boots
from bootsvc.store.models import Node, NodeBoot


@dataclass(frozen=True)
class BootRate:
    start: datetime
    boots: list[int]
    failures: list[int]


def per_minute(
    session: Session, now: datetime, minutes: int, cluster_id: int | None = None
) -> BootRate:
    start = (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    query = select(NodeBoot.script_at, NodeBoot.outcome).where(NodeBoot.script_at >= start)
    if cluster_id is not None:
        query = query.join(Node, Node.id == NodeBoot.node_id).where(Node.cluster_id == cluster_id)
    started = [0] * (minutes + 1)
    failed = [0] * (minutes + 1)
    for at, outcome in session.execute(query):
        minute = int((at - start).total_seconds() // 60) if at else -1
        if 0 <= minute <= minutes:
            started[minute] += 1
            if outcome in boots.BAD_OUTCOMES:
                failed[minute] += 1
    return BootRate(start, started, failed)
