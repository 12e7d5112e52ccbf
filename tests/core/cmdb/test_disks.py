"""Disk consent and factory resets: what a node's kernel command line allows,
an admin's reset requests, and the `up` reports that spend them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bootsvc.core.boot import bootscript, reports
from bootsvc.core.boot.bootscript import BootSite, Machine
from bootsvc.core.cmdb import disks
from bootsvc.core.nodeconfig import changes
from bootsvc.errors import NotFound
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import AuditEntry, Node
from tests.support import factory

SITE = BootSite(base_url="http://10.0.0.1:8080", template_dir=None, default_image="")
MAC = "52:54:00:aa:cc:01"
FACTS = {"state": {"device": "/dev/sda3"}, "ceph": {"osd_devices": ["/dev/sdb", "/dev/sdc"]}}


@pytest.fixture
def hv1(db: Database, store: ArtifactStore) -> str:
    factory.version(db, store, "hv", "1")
    factory.node(
        db, hostname="hv1", interfaces=[{"mac": MAC}], image="hv=1", roles=["ceph-osd"], facts=FACTS
    )
    return "hv1"


def kernel_line(db: Database) -> str:
    text = bootscript.serve_node_script(db, SITE, Machine(mac=MAC, ip="10.0.0.50")).text
    return next(line for line in text.splitlines() if line.startswith("kernel "))


def node(db: Database, hostname: str = "hv1") -> Node:
    with db.read() as session:
        return session.scalars(select(Node).where(Node.hostname == hostname)).one()


def actions(db: Database) -> list[tuple[str, str, str | None]]:
    with db.read() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("node.reset%")).order_by(AuditEntry.id)
        )
        return [(e.action, e.actor, e.from_value) for e in entries]


def report(db: Database, stage: str = "up", **details: Any) -> None:
    with db.write() as session:
        reports.record(session, stage, MAC, "10.0.0.50", details=details)


def test_the_command_line_carries_the_consent_in_each_state(db: Database, hv1: str) -> None:
    assert "BOOTIF=01-52-54-00-aa-cc-01 bootsvc.disks=first-use bootsvc.url=" in kernel_line(db)
    report(db, disks={"state": "created"})
    assert " bootsvc.disks=keep " in kernel_line(db)
    with db.write() as session:
        reset_id = disks.request_reset(session, hv1, "admin").node.reset_id
    assert f" bootsvc.disks=reset-{reset_id} " in kernel_line(db)


def test_a_reset_is_requested_once_and_cancelled(db: Database, hv1: str) -> None:
    with db.write() as session:
        first = disks.request_reset(session, "HV1", "cli:alice")
        assert first.changed and first.node.reset_id is not None
        first_id = first.node.reset_id
    with db.write() as session:
        again = disks.request_reset(session, hv1, "cli:bob")
        assert not again.changed and again.node.reset_id == first_id
    assert actions(db) == [("node.reset", "cli:alice", None)]
    with db.read() as session:
        entry = session.get(AuditEntry, first_id)
        assert entry is not None and entry.subject == "node/hv1"
        assert entry.details == {
            "state_device": "/dev/sda3",
            "osd_devices": ["/dev/sdb", "/dev/sdc"],
        }

    with db.write() as session:
        assert disks.cancel_reset(session, hv1, "cli:alice").changed
    with db.write() as session:
        assert not disks.cancel_reset(session, hv1, "cli:alice").changed
    assert node(db).reset_id is None
    assert actions(db)[1:] == [("node.reset-cancel", "cli:alice", str(first_id))]


def test_an_unknown_node_cannot_be_reset(db: Database) -> None:
    with pytest.raises(NotFound, match="node 'nobody' does not exist"), db.write() as session:
        disks.request_reset(session, "nobody", "admin")


def test_what_a_reset_wipes_is_named_from_the_facts() -> None:
    osd = ["ceph-osd"]
    assert disks.Wipe.of(Node(roles=osd, facts=FACTS)).describe() == (
        "state partition /dev/sda3 and OSD devices /dev/sdb, /dev/sdc"
    )
    # Only ceph-osd nodes use their OSD devices.
    assert disks.Wipe.of(Node(roles=[], facts=FACTS)).describe() == "state partition /dev/sda3"
    assert disks.Wipe.of(Node(roles=osd, facts={"ceph": {"osd_devices": "sdb"}})).describe() == (
        "its state partition and OSD devices (none listed in its facts)"
    )


@pytest.mark.parametrize("state", ["created", "mounted", "reset"])
def test_disks_holding_the_state_are_in_use(db: Database, hv1: str, state: str) -> None:
    report(db, disks={"state": state})
    assert node(db).disks == "in-use"


@pytest.mark.parametrize("state", ["absent", "refused", "failed"])
def test_disks_without_the_state_stay_new(db: Database, hv1: str, state: str) -> None:
    report(db, disks={"state": state, "reason": "no blank device", "reset": ""})
    assert node(db).disks == "new"
    assert actions(db) == []


@pytest.mark.parametrize("as_number", [True, False])
def test_a_report_of_the_pending_reset_spends_it(db: Database, hv1: str, as_number: bool) -> None:
    with db.write() as session:
        reset_id = disks.request_reset(session, hv1, "admin").node.reset_id
    assert reset_id is not None
    report(db, disks={"state": "reset", "reset": reset_id if as_number else str(reset_id)})
    after = node(db)
    assert (after.reset_id, after.disks) == (None, "in-use")
    assert actions(db)[-1] == ("node.reset-done", "node:hv1", str(reset_id))
    report(db, disks={"state": "reset", "reset": reset_id})
    assert [a for a, _, _ in actions(db)] == ["node.reset", "node.reset-done"]


def test_a_stale_refused_or_failed_reset_leaves_the_pending_one(db: Database, hv1: str) -> None:
    with db.write() as session:
        stale = disks.request_reset(session, hv1, "admin").node.reset_id
    with db.write() as session:
        disks.cancel_reset(session, hv1, "admin")
    with db.write() as session:
        pending = disks.request_reset(session, hv1, "admin").node.reset_id
    report(db, disks={"state": "reset", "reset": str(stale)})
    report(db, disks={"state": "refused", "reset": str(pending), "reason": "device busy"})
    report(db, disks={"state": "failed", "reset": str(pending), "reason": "could not wipe"})
    report(db, stage="failed", disks={"state": "reset", "reset": str(pending)})
    assert node(db).reset_id == pending
    assert "node.reset-done" not in [a for a, _, _ in actions(db)]


@pytest.mark.parametrize(
    "value",
    ["reset", ["created"], {"state": "wiped"}, {"state": "reset", "reset": True}, {"reset": "1"}],
)
def test_a_malformed_disks_report_is_kept_and_changes_nothing(
    db: Database, hv1: str, value: Any
) -> None:
    with db.write() as session:
        reset_id = disks.request_reset(session, hv1, "admin").node.reset_id
    report(db, disks=value)
    after = node(db)
    assert (after.reset_id, after.disks) == (reset_id, "new")
    with db.read() as session:
        recent = reports.recent(session, "hv1", limit=1)
    assert recent[0].details == {"disks": value}


def test_marking_disks_in_use_leaves_the_cmdb_revision(db: Database, hv1: str) -> None:
    with db.read() as session:
        before = changes.cmdb_revision(session.connection())
    report(db, disks={"state": "created"})
    with db.read() as session:
        assert changes.cmdb_revision(session.connection()) == before
    assert node(db).disks == "in-use"
