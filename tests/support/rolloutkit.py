"""Simulated nodes for rollout tests: a cluster of nodes following a channel,
and boots that go through the same code as a real one (the node script is
served and recorded, then the system reports)."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bootsvc.core.boot import bootscript, reports
from bootsvc.core.boot.bootplan import BootPlan
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.cmdb import cmdb
from bootsvc.core.cmdb.records import ClusterRecord
from bootsvc.settings import Settings
from bootsvc.store.db import Database
from bootsvc.store.leasetables import BOUND
from bootsvc.store.models import AuditEntry, DhcpLease, Interface
from tests.support import factory

SITE = BootSite(base_url="http://192.0.2.1:8080", template_dir=None, default_image="")
log = logging.getLogger("bootsvc.test")


def mac(cluster: int, index: int) -> str:
    return f"52:54:00:{cluster:02x}:00:{index:02x}"


def ip(cluster: int, index: int) -> str:
    return f"10.{cluster}.0.{index + 10}"


def make_cluster(
    db: Database,
    name: str = "c1",
    size: int = 5,
    number: int = 1,
    image: str | None = "hv@stable",
    roles: tuple[str, ...] = ("hypervisor",),
) -> dict[str, str]:
    """A cluster of `size` active nodes; returns hostname -> MAC."""
    with db.write() as session:
        cmdb.upsert_cluster(session, ClusterRecord(name=name, domain=f"{name}.example"), "test")
    hosts = {}
    for index in range(size):
        hostname = f"{name}n{index}"
        fields: dict[str, Any] = {
            "hostname": hostname,
            "interfaces": [{"mac": mac(number, index), "ip": ip(number, index)}],
            "cluster": name,
            "roles": list(roles),
        }
        if image:
            fields["image"] = image
        factory.node(db, **fields)
        hosts[hostname] = mac(number, index)
    return hosts


def own_address(session: Session, mac_address: str) -> str | None:
    """The address bootsvc leased to the MAC, else its IP in the CMDB: where
    the node's script must go for it to count (bootsvc.core.access.nodeaccess)."""
    leased = session.scalar(
        select(DhcpLease.ip).where(
            DhcpLease.mac == mac_address,
            DhcpLease.state == BOUND,
            DhcpLease.expires > time.time(),
        )
    )
    return leased or session.scalar(select(Interface.ip).where(Interface.mac == mac_address))


def deliver(db: Database, mac_address: str, arch: str | None = None) -> bootscript.NodeScript:
    """Serve the node its script as iPXE would fetch it from the node's own
    address (leased by bootsvc, or in the CMDB), naming its `arch`."""
    with db.read() as session:
        address = own_address(session, mac_address)
    machine = Machine(mac=mac_address, ip=address, arch=arch)
    return bootscript.deliver_node_script(db, SITE, machine, log)


def boot(
    db: Database,
    mac_address: str,
    outcome: str | None = "up",
    healthy: bool = True,
    arch: str | None = None,
) -> BootPlan:
    """Serve the node its script, then report the system `outcome` ("up" or
    "failed"; None: the boot hangs)."""
    script = deliver(db, mac_address, arch)
    plan = script.plan
    assert isinstance(plan, BootPlan), plan
    assert script.verdict is not None and script.verdict.verified, script.verdict
    if outcome is not None:
        report(db, mac_address, outcome, plan.version_id, healthy)
    return plan


def report(
    db: Database, mac_address: str, stage: str, version_id: int | None, healthy: bool = True
) -> None:
    with db.write() as session:
        reports.record(
            session, stage, mac_address, None, version_id=version_id, details={"healthy": healthy}
        )


def actions(db: Database, subject_prefix: str = "rollout/") -> list[str]:
    """Audit actions about rollouts, oldest first."""
    with db.read() as session:
        rows = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject.startswith(subject_prefix))
            .order_by(AuditEntry.id)
        )
        return list(rows)


def rollout_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update=overrides)
