"""`bootsvc node script`: the iPXE script a node would get, shown without
counting as a boot: no report, no enlistment, no secrets token."""

from __future__ import annotations

from sqlalchemy import func, select

from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import BootReport, Node, SecretToken
from tests.cli.conftest import Run
from tests.support import factory


def _counts(db: Database) -> tuple[int, int, int]:
    with db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(BootReport)) or 0,
            session.scalar(select(func.count()).select_from(SecretToken)) or 0,
            session.scalar(select(func.count()).select_from(Node)) or 0,
        )


def test_script_previews_without_recording_a_boot(
    run: Run, db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "7")
    factory.promote(db, store, "hv", "7")
    factory.node(
        db,
        hostname="hv1",
        image="hv@stable",
        interfaces=[
            {"name": "eno1", "mac": "52:54:00:00:50:01", "ip": "10.0.0.21"},
            {"name": "eno2", "mac": "52:54:00:00:50:02"},
        ],
    )
    before = _counts(db)
    text = run("node", "script", "hv1").output
    assert text.startswith("#!ipxe\n")
    assert "kernel " in text and "BOOTIF=01-52-54-00-00-50-01" in text, text
    assert "token=PREVIEW-TOKEN" in text, text
    other = run("node", "script", "hv1", "--mac", "52-54-00-00-50-02").output
    assert "BOOTIF=01-52-54-00-00-50-02" in other, other
    assert _counts(db) == before


def test_script_errors_are_one_line(run: Run, db: Database) -> None:
    factory.node(db, hostname="bare", interfaces=[{"mac": "52:54:00:00:50:03"}])
    assert "node 'ghost'" in run("node", "script", "ghost", code=1).output
    wrong = run("node", "script", "bare", "--mac", "52:54:00:00:50:09", code=1).output
    assert wrong.strip() == "Error: node 'bare' has no interface with MAC 52:54:00:00:50:09"
    bad = run("node", "script", "bare", "--mac", "nonsense", code=1).output
    assert bad.strip() == "Error: 'nonsense' is not a MAC address"
