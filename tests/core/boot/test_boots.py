"""Each boot of a node, from its reports: what it booted, how long it took,
how it ended."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bootsvc.core.boot import boots, reports
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Node, NodeBoot, NodeSeen
from tests.support import factory
from tests.support.rolloutkit import boot, make_cluster, report


def _boots(db: Database) -> list[tuple[str, bool, bool]]:
    """(outcome, has a script time, has a duration), oldest first."""
    with db.read() as session:
        rows = session.scalars(select(NodeBoot).order_by(NodeBoot.id))
        return [
            (b.outcome, b.script_at is not None, boots.duration_s(b.script_at, b.up_at) is not None)
            for b in rows
        ]


def _one_node(db: Database, store: ArtifactStore) -> str:
    """A node of cluster c1 following hv@stable; its MAC."""
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    return make_cluster(db, "c1", size=1)["c1n0"]


def test_a_refused_boot_ends_a_hanging_one_and_is_closed_at_once(
    db: Database, store: ArtifactStore
) -> None:
    mac = _one_node(db, store)
    boot(db, mac, outcome=None)
    with db.write() as session:
        reports.record(session, reports.REFUSED, mac, None, details={"reason": "why"})
    assert _boots(db) == [("abandoned", True, False), ("refused", True, False)]
    with db.read() as session:
        refused = session.scalars(select(NodeBoot).order_by(NodeBoot.id.desc())).first()
        assert refused is not None and refused.ended_at is not None
        assert refused.details == {"reason": "why"}


def test_a_boot_from_script_to_up_and_the_ones_that_went_wrong(
    db: Database, store: ArtifactStore
) -> None:
    mac = _one_node(db, store)
    plan = boot(db, mac, outcome=None)
    report(db, mac, "kernel-loaded", plan.version_id)
    report(db, mac, "up", plan.version_id)
    boot(db, mac, outcome=None)
    boot(db, mac, healthy=False)
    report(db, mac, "up", plan.version_id, healthy=True)
    boot(db, mac, outcome="failed")
    report(db, mac, "up", None)
    assert _boots(db) == [
        ("up", True, True),
        ("abandoned", True, False),
        ("up", True, True),
        ("failed", True, False),
        ("up", False, False),
    ]
    with db.read() as session:
        first = session.scalar(select(NodeBoot).order_by(NodeBoot.id))
        assert first is not None and first.kernel_at is not None
        assert first.script_at is not None and first.up_at is not None
        assert first.script_at <= first.kernel_at <= first.up_at
        last = session.scalar(select(NodeBoot).order_by(NodeBoot.id.desc()))
        assert last is not None and last.version_id is None
        seen = session.scalar(select(NodeSeen))
        assert seen is not None and seen.via == "report"
        node = session.scalar(select(Node))
        assert node is not None
        assert [b.outcome for b in boots.history(session, node.id, 2)] == ["up", "failed"]


def test_reports_of_unknown_machines_open_no_boot(db: Database) -> None:
    report(db, "52:54:00:99:99:99", "up", None)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(NodeBoot)) == 0
        assert session.scalar(select(func.count()).select_from(NodeSeen)) == 0


@pytest.mark.parametrize(
    ("details", "healthy"),
    [
        ({}, True),
        ({"healthy": True}, True),
        ({"healthy": False}, False),
        ({"healthy": "yes"}, False),
        ({"services": {"corosync": "active", "pacemaker": "active"}}, True),
        ({"services": {"corosync": "active", "pacemaker": "activating"}}, False),
        ({"healthy": True, "services": {"pacemaker": "failed"}}, True),
        ({"services": {}}, True),
    ],
)
def test_what_a_report_says_of_health(details: dict[str, Any], healthy: bool) -> None:
    assert boots.is_healthy(details) is healthy
