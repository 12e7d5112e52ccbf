"""bootsvc node reset, and where a pending reset shows: node show, fleet status."""

from __future__ import annotations

import json

from bootsvc.core.boot import reports
from bootsvc.store.db import Database
from tests.cli.conftest import Run
from tests.support import factory

MAC = "52:54:00:00:72:01"
FACTS = {"state": {"device": "/dev/sda3"}, "ceph": {"osd_devices": ["/dev/sdb", "/dev/sdc"]}}
NOTHING_CHANGED = "Error: node hv1: no reset requested; nothing changed"


def test_answering_no_changes_nothing(run: Run) -> None:
    run("node", "add", "hv1", "--mac", MAC)
    refused = run("node", "reset", "hv1", input="n\n", code=1)
    assert (
        "Factory-reset hv1? Its next boot wipes its state partition and OSD devices "
        "(none listed in its facts)"
    ) in refused.stderr
    assert refused.stderr.splitlines()[-1] == NOTHING_CHANGED
    without_answer = run("node", "reset", "hv1", input="", code=1)
    assert without_answer.stderr.splitlines()[-1] == NOTHING_CHANGED
    assert json.loads(run("node", "show", "hv1", "--json").output)["reset"] is None
    assert "node.reset" not in run("audit").output
    assert run("node", "reset", "nobody", code=1).stderr == "Error: node 'nobody' does not exist\n"


def test_reset_asked_shown_carried_out(run: Run, db: Database) -> None:
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], roles=["ceph-osd"], facts=FACTS)
    factory.node(db, hostname="hv2", interfaces=[{"mac": "52:54:00:00:72:02"}])
    asked = run("node", "reset", "hv1", input="y\n")
    assert (
        "Its next boot wipes state partition /dev/sda3 and OSD devices /dev/sdb, /dev/sdc"
    ) in asked.stderr
    assert "node hv1: factory reset requested (audit " in asked.stdout
    reset_id = json.loads(run("node", "show", "hv1", "--json").output)["reset"]["id"]
    again = run("node", "reset", "hv1").stdout
    assert (
        again == f"node hv1: factory reset already pending (audit {reset_id}), at its next boot\n"
    )

    shown = run("node", "show", "hv1").output
    assert "disks:" in shown and " new" in shown
    assert f"factory reset: pending at its next boot (audit {reset_id} by cli:" in shown
    status = run("fleet", "status").output
    assert "pending factory resets: hv1\n" in status
    assert json.loads(run("fleet", "status", "--json").output)["pending_reset"] == ["hv1"]

    with db.write() as session:
        reports.record(
            session, "up", MAC, None, details={"disks": {"state": "reset", "reset": reset_id}}
        )
    shown = json.loads(run("node", "show", "hv1", "--json").output)
    assert (shown["reset"], shown["disks"], shown["boot"]["reset"]) == (None, "in-use", None)
    assert "pending factory resets: none" in run("fleet", "status").output


def test_yes_skips_the_question_and_cancel_undoes(run: Run, db: Database) -> None:
    factory.node(db, hostname="hv1", interfaces=[{"mac": MAC}], roles=["ceph-osd"], facts=FACTS)
    asked = json.loads(run("node", "reset", "hv1", "--yes", "--json").stdout)
    assert asked["reset"]["id"] > 0 and asked["reset"]["requested_by"].startswith("cli:")
    assert run("node", "reset", "hv1", "--cancel").stdout == "node hv1: reset cancelled\n"
    assert run("node", "reset", "hv1", "--cancel").stdout == "node hv1: no reset was pending\n"
    audit = run("audit").output
    assert "node.reset-cancel" in audit and "node.reset " in audit
