"""The audit log and boot reports, read-only."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bootsvc.core import audit
from bootsvc.core.boot import reports
from bootsvc.core.views.objects import AuditView, BootReportView, audit_view
from bootsvc.web.api import registry
from bootsvc.web.apidoc import Reply
from bootsvc.web.context import services


class AuditQuery(BaseModel):
    subject: str | None = None
    limit: int = Field(default=100, ge=1, le=10_000)


class ReportQuery(BaseModel):
    node: str | None = None
    limit: int = Field(default=100, ge=1, le=10_000)


@registry.route(
    "GET",
    "/audit",
    summary="Audit entries, newest first",
    scope="read",
    query=AuditQuery,
    responses={200: list[AuditView]},
)
def list_audit(query: AuditQuery) -> Reply:
    with services().db.read() as session:
        return Reply([audit_view(e) for e in audit.entries(session, query.subject, query.limit)])


@registry.route(
    "GET",
    "/reports",
    summary="Boot reports, newest first",
    scope="read",
    query=ReportQuery,
    responses={200: list[BootReportView]},
)
def list_reports(query: ReportQuery) -> Reply:
    with services().db.read() as session:
        return Reply(reports.recent(session, query.node, query.limit))
