"""The audit log filtered the way the admin pages ask: by who, by what kind
of action, and by subject, newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.store.models import AuditEntry


@dataclass(frozen=True)
class AuditSearch:
    """`actor` is exact (token:NAME); `action` and `subject` match a prefix
    ("rollout." for every rollout step, "node/hv1" for one node)."""

    actor: str = ""
    action: str = ""
    subject: str = ""


def entries(
    session: Session, wanted: AuditSearch, limit: int, before: int | None = None
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if wanted.actor:
        query = query.where(AuditEntry.actor == wanted.actor)
    if wanted.action:
        query = query.where(AuditEntry.action.startswith(wanted.action, autoescape=True))
    if wanted.subject:
        query = query.where(AuditEntry.subject.startswith(wanted.subject, autoescape=True))
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list(session.scalars(query))
