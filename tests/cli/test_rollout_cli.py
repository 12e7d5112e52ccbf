"""The CLI twins of the rollout, fleet and assignment routes."""

from __future__ import annotations

import json

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from tests.cli.conftest import Run
from tests.support import factory
from tests.support.rolloutkit import boot


def test_assign_promote_status_pause_resume_abort(
    run: Run, db: Database, store: ArtifactStore
) -> None:
    for version in ("1", "2"):
        factory.version(db, store, "hv", version)
    run("cluster", "add", "c1", "--domain", "c1.example")
    for index in range(3):
        mac, ip = f"52:54:00:00:02:0{index}", f"10.0.2.{10 + index}"
        run("node", "add", f"hv{index}", "--mac", mac, "--ip", ip, "--cluster", "c1")
    assert "cluster c1 follows hv@stable" in run("cluster", "assign", "c1", "hv@stable").output
    assert "already follows" in run("cluster", "assign", "c1", "hv@stable").output
    assert "follows:  hv@stable" in run("cluster", "show", "c1").output
    out = run("image", "promote", "hv", "1").output
    assert "hv@stable: (new) -> 1" in out and "rollout" not in out
    for index in range(3):
        boot(db, f"52:54:00:00:02:0{index}")

    out = run("image", "promote", "hv", "2").output
    assert "rollout 1 on cluster c1: 3 nodes in 3 waves, running" in out
    shown = run("node", "show", "hv1").output
    assert "should boot:  hv 1" in shown
    assert "rollout 1 holds it at its old version until wave 2 (now at wave 1)" in shown
    assert "booted:       hv 1" in shown
    status = run("rollout", "status", "--cluster", "c1").output
    assert "1: hv 2 on cluster c1" in status and "running, wave 1 of 3" in status
    assert "promote of hv@stable" in status
    assert "rollout 1: paused" in run("rollout", "pause", "1").output
    boot(db, "52:54:00:00:02:00")
    assert "rollout 1: running, wave 2 of 3" in run("rollout", "resume", "--cluster", "c1").output
    second = run("rollout", "start", "hv", "1", "--cluster", "c1", code=1).output
    assert "cluster c1 already has rollout 1 (running)" in second
    assert "rollout 1: aborted" in run("rollout", "abort", "1").output
    assert "is aborted; it cannot be aborted" in run("rollout", "abort", "1", code=1).output
    listed = json.loads(run("rollout", "list", "--json").output)
    assert [(r["id"], r["state"], r["trigger"]) for r in listed] == [(1, "aborted", "promote")]

    quorum = run(
        "rollout", "start", "hv", "2", "--cluster", "c1", "--max-unavailable", "2", code=1
    ).output
    assert "would break the quorum of cluster c1: of its 3 voting nodes" in quorum
    started = json.loads(
        run("rollout", "start", "hv", "2", "--cluster", "c1", "--canary", "0", "--json").output
    )
    assert (started["id"], started["canary"], started["waves"]) == (2, 0, 2)
    fleet = run("fleet", "status").output
    assert "hv 1: 2 (hv1, hv2)" in fleet and "hv 2: 1 (hv0)" in fleet
    assert "rollout 2 on c1: hv 2, running, wave 1 of 2" in fleet
    boots = run("node", "boots", "hv0").output.splitlines()
    assert len(boots) == 3 and boots[1].split()[2:5] == ["hv", "2", "up"]
    assert "held no reboot slot" in run("fleet", "release", "hv0").output
    assert "removed the image assignment of c1" in run("cluster", "unassign", "c1").output
    assert "has no image assignment" in run("cluster", "unassign", "c1", code=1).output
