"""Events and audit: who did what and when, filtered; and the boot reports
nodes sent, by node."""

from __future__ import annotations

from flask import Response, request

from bootsvc import digits
from bootsvc.core import auditsearch
from bootsvc.core.boot import reports
from bootsvc.core.views.objects import audit_view
from bootsvc.web.context import services
from bootsvc.web.ui.blueprint import blueprint
from bootsvc.web.ui.page import page

PAGE = 100


@blueprint.get("/audit")
def audit_page() -> Response:
    wanted = auditsearch.AuditSearch(
        actor=request.args.get("actor", "").strip(),
        action=request.args.get("action", "").strip(),
        subject=request.args.get("subject", "").strip(),
    )
    before = digits.number(request.args.get("before", ""))
    node = request.args.get("node", "").strip()
    with services().db.read() as session:
        found = auditsearch.entries(session, wanted, PAGE, before)
        entries = [audit_view(e) for e in found]
        older = found[-1].id if len(found) == PAGE else None
        reported = reports.recent(session, node or None, PAGE)
    return page(
        "audit.html", entries=entries, wanted=wanted, older=older, node=node, reports=reported
    )
