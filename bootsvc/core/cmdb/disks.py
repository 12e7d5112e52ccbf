"""A node's local disks (its state partition and Ceph OSD devices): whether
its next boot may format them, the factory resets an admin asks for, and
what the node's `up` report says it did.

The consent travels on the kernel command line (`bootsvc.disks=`), which is
rendered per request; none of this is an input of the overlay, so only the
admin's requests write audit entries (which move the CMDB change stamp)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session

from bootsvc.core import audit
from bootsvc.core.cmdb import cmdb
from bootsvc.logs import event
from bootsvc.store.models import Node
from bootsvc.store.types import utcnow

log = logging.getLogger("bootsvc.cmdb")

ARGUMENT = "bootsvc.disks"
NEW, IN_USE = "new", "in-use"


def consent(reset_id: int | None, disks: str) -> str:
    """The node's `bootsvc.disks=` value: `reset-ID` wipes its state partition
    and OSD devices (ID names the audit entry that asked), `first-use` lets it
    make its state partition on a blank device, `keep` formats nothing."""
    if reset_id is not None:
        return f"reset-{reset_id}"
    return "first-use" if disks == NEW else "keep"


def _fact(facts: dict[str, Any], *path: str) -> Any:
    value: Any = facts
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class Wipe:
    """What a reset wipes, as the node's facts list it: `state.device`, and
    `ceph.osd_devices` on a `ceph-osd` node (the only ones that use them)."""

    state_device: str | None
    osd_devices: list[str]

    @classmethod
    def of(cls, node: Node) -> Wipe:
        device = _fact(node.facts, "state", "device")
        osds = _fact(node.facts, "ceph", "osd_devices") if "ceph-osd" in node.roles else None
        return cls(
            state_device=device if isinstance(device, str) and device else None,
            osd_devices=[d for d in osds if isinstance(d, str)] if isinstance(osds, list) else [],
        )

    def describe(self) -> str:
        state = f"state partition {self.state_device}" if self.state_device else None
        osds = f"OSD devices {', '.join(self.osd_devices)}" if self.osd_devices else None
        if state and osds:
            return f"{state} and {osds}"
        return state or osds or "its state partition and OSD devices (none listed in its facts)"


@dataclass(frozen=True)
class ResetChange:
    node: Node
    changed: bool


def request_reset(session: Session, hostname: str, actor: str) -> ResetChange:
    """Ask for a factory reset at the node's next boot. A reset already
    pending stays the one pending: no second audit entry."""
    node = cmdb.get_node(session, hostname, lock=True)
    if node.reset_id is not None:
        return ResetChange(node, changed=False)
    wipe = Wipe.of(node)
    entry = audit.record(
        session,
        actor,
        "node.reset",
        f"node/{node.hostname}",
        state_device=wipe.state_device,
        osd_devices=wipe.osd_devices,
    )
    node.reset_request = entry
    node.updated_at = utcnow()
    session.flush()
    return ResetChange(node, changed=True)


def cancel_reset(session: Session, hostname: str, actor: str) -> ResetChange:
    node = cmdb.get_node(session, hostname, lock=True)
    if node.reset_id is None:
        return ResetChange(node, changed=False)
    pending = node.reset_id
    node.reset_request = None
    node.updated_at = utcnow()
    audit.record(session, actor, "node.reset-cancel", f"node/{node.hostname}", str(pending))
    session.flush()
    return ResetChange(node, changed=True)


class DisksReport(BaseModel):
    """`details.disks` of an `up` report: what the node did with its disks."""

    model_config = ConfigDict(extra="ignore")

    state: Literal["created", "mounted", "reset", "absent", "refused", "failed"]
    reset: StrictStr | StrictInt | None = None
    reason: StrictStr | None = None


# What the node found or made leaves its disks holding its state.
_HOLDING = ("created", "mounted", "reset")
# A reset reported with these was not carried out: it stays pending.
_NOT_DONE = ("refused", "failed")


def observe(session: Session, node_id: int, details: dict[str, Any]) -> None:
    """Spend an `up` report's consent: disks that now hold the node's state
    are in use, and a reset whose id matches the pending one is done unless
    the node refused or failed it. A stale or foreign id, or a malformed
    `details.disks`, changes nothing (the report itself is kept as sent).
    Conditional updates: most reports write nothing, and two at once finish
    a reset once."""
    raw = details.get("disks")
    if raw is None:
        return
    node = session.get(Node, node_id)
    if node is None:
        return
    try:
        report = DisksReport.model_validate(raw)
    except ValidationError:
        event(log, "node.disks-report-ignored", logging.WARNING, node=node.hostname)
        return
    if report.state in _HOLDING:
        session.execute(
            update(Node).where(Node.id == node_id, Node.disks != IN_USE).values(disks=IN_USE)
        )
    pending = node.reset_id
    if pending is None or report.reset is None or str(report.reset) != str(pending):
        return
    if report.state in _NOT_DONE:
        event(
            log,
            "node.reset-not-done",
            logging.WARNING,
            node=node.hostname,
            reset=pending,
            state=report.state,
            reason=report.reason,
        )
        return
    done = session.execute(
        update(Node).where(Node.id == node_id, Node.reset_id == pending).values(reset_id=None)
    )
    if done.rowcount == 1:  # type: ignore[attr-defined]
        audit.record(
            session,
            f"node:{node.hostname}",
            "node.reset-done",
            f"node/{node.hostname}",
            str(pending),
            state=report.state,
        )
        event(log, "node.reset-done", node=node.hostname, reset=pending, state=report.state)
