"""The audit log: who changed what, when, from which value to which. Entries
are written in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.store.models import AuditEntry


def record(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    from_value: str | None = None,
    to_value: str | None = None,
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor,
        action=action,
        subject=subject,
        from_value=from_value,
        to_value=to_value,
        details=details,
    )
    session.add(entry)
    return entry


def entries(session: Session, subject: str | None = None, limit: int = 100) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subject:
        query = query.where(AuditEntry.subject == subject)
    return list(session.scalars(query))
