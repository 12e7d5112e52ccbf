"""Boot reports: what each machine said about each step of its boot."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from bootsvc.core.boot import boots
from bootsvc.core.cmdb import cmdb, disks
from bootsvc.core.rollout import rollouts
from bootsvc.core.views.objects import BootReportView
from bootsvc.metrics import families
from bootsvc.store.models import BootReport, Image, ImageVersion, Node
from bootsvc.store.types import utcnow

# The stages a node reports.
STAGES = ("script", "kernel-loaded", "up", "failed")
# bootsvc's own report of a script that boots nothing, with the reason: a
# node cannot send it.
REFUSED = boots.REFUSED


_REPORTS = cast(Table, BootReport.__table__)
# Built once: every script and report runs them.
_ADD = insert(_REPORTS)
_VERSION_ID = (
    select(ImageVersion.id)
    .join(Image)
    .where(Image.name == bindparam("image"), ImageVersion.version == bindparam("version"))
)


def record(
    session: Session,
    stage: str,
    mac: str | None,
    ip: str | None,
    node_id: int | None = None,
    version_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    if node_id is None and mac:
        node = cmdb.find_by_mac(session, mac)
        node_id = node.id if node else None
    now = utcnow()
    report = boots.StageReport(node_id, stage, mac, ip, version_id, details or {})
    session.connection().execute(
        _ADD,
        {
            "node_id": node_id,
            "mac": mac,
            "ip": ip,
            "stage": stage,
            "version_id": version_id,
            "at": now,
            "details": report.details,
        },
    )
    boot = boots.track(session, report, now)
    families.boot_report(stage, boot.outcome if boot is not None else "unknown")
    if boot is not None:
        rollouts.observe(session, stage, boot, now)
    if stage == "up" and node_id is not None:
        disks.observe(session, node_id, report.details)


def version_id_of(session: Session, image: str, version: str) -> int | None:
    return session.connection().scalar(_VERSION_ID, {"image": image, "version": version})


def recent(session: Session, hostname: str | None = None, limit: int = 100) -> list[BootReportView]:
    query = (
        select(BootReport, Node.hostname, Image.name, ImageVersion.version)
        .outerjoin(Node, Node.id == BootReport.node_id)
        .outerjoin(ImageVersion, ImageVersion.id == BootReport.version_id)
        .outerjoin(Image, Image.id == ImageVersion.image_id)
        .order_by(BootReport.id.desc())
        .limit(limit)
    )
    if hostname:
        query = query.where(Node.hostname == hostname)
    return [
        BootReportView(
            at=report.at,
            node=node_name,
            mac=report.mac,
            ip=report.ip,
            stage=report.stage,
            image=image,
            version=version,
            details=dict(report.details),
        )
        for report, node_name, image, version in session.execute(query)
    ]
