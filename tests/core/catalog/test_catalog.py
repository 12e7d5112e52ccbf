from __future__ import annotations

import pytest
from sqlalchemy import select

from bootsvc.core import audit
from bootsvc.core.catalog import catalog
from bootsvc.core.views.objects import image_view, version_view
from bootsvc.errors import Conflict, InvalidInput, NotFound
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Artifact, Channel
from tests.support import factory


def test_version_keeps_files_sizes_and_who_imported_it(db: Database, store: ArtifactStore) -> None:
    factory.version(
        db, store, "hv", "1", rootfs=True, initrds=2, cmdline="boot=live fetch={{ rootfs_url }}"
    )
    with db.read() as session:
        view = version_view(catalog.get_version(session, "hv", "1"))
    assert [(f.role, f.name) for f in view.files] == [
        ("initrd", "initrd0.img"),
        ("initrd", "initrd1.img"),
        ("kernel", "vmlinuz"),
        ("rootfs", "root.squashfs"),
    ]
    assert view.size == sum(f.size for f in view.files)
    assert view.imported_by == factory.ACTOR
    assert view.cmdline == "boot=live fetch={{ rootfs_url }}"
    assert view.imported_at.tzinfo is not None


def test_versions_sharing_bytes_share_one_artifact(db: Database, store: ArtifactStore) -> None:
    shared = factory.blob(store, "vmlinuz", b"same kernel")
    initrd = factory.blob(store, "initrd.img", b"same initrd")
    with db.write() as session:
        catalog.add_version(session, "hv", "1", shared, [initrd], None, "", "", "t")
        catalog.add_version(session, "hv", "2", shared, [initrd], None, "", "", "t")
    with db.read() as session:
        assert len(session.scalars(select(Artifact)).all()) == 2
    assert len(list(store.blobs())) == 2


def test_duplicate_version_is_refused(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    with pytest.raises(Conflict, match="already has a version '1'"):
        factory.version(db, store, "hv", "1")


@pytest.mark.parametrize(
    ("cmdline", "rootfs", "message"),
    [
        ("root={{ nonsense }}", False, "nonsense"),
        ("fetch={{ rootfs_url }}", False, "rootfs_url"),
        ("{% if %}", False, "template"),
        ("a\nb", False, "one line"),
    ],
)
def test_bad_cmdline_templates_fail_the_import(
    db: Database, store: ArtifactStore, cmdline: str, rootfs: bool, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        factory.version(db, store, "hv", "1", cmdline=cmdline, rootfs=rootfs)
    with db.read() as session:
        assert catalog.list_images(session) == [] or not catalog.get_image(session, "hv").versions


def test_promote_and_rollback_walk_history_with_audit(db: Database, store: ArtifactStore) -> None:
    for name in ("1", "2", "3"):
        factory.version(db, store, "hv", name)
        factory.promote(db, store, "hv", name)
    with db.write() as session:
        move = catalog.rollback(session, "hv", "stable", "alice")
        assert (move.previous and move.previous.version, move.channel.version.version) == ("3", "2")
    with db.write() as session:
        move = catalog.rollback(session, "hv", "stable", "alice")
        assert move.channel.version.version == "1"
    with db.write() as session, pytest.raises(Conflict, match="no earlier version"):
        catalog.rollback(session, "hv", "stable", "alice")
    with db.read() as session:
        entries = [
            (e.actor, e.action, e.from_value, e.to_value)
            for e in audit.entries(session, "image/hv/channel/stable")
        ]
    assert entries == [
        ("alice", "channel.rollback", "2", "1"),
        ("alice", "channel.rollback", "3", "2"),
        ("test", "channel.promote", "2", "3"),
        ("test", "channel.promote", "1", "2"),
        ("test", "channel.promote", None, "1"),
    ]


def test_promoting_the_current_version_changes_nothing(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    factory.promote(db, store, "hv", "1")
    with db.write() as session:
        move = catalog.promote(session, store, "hv", "1", "stable", "bob")
        assert move.changed is False
    with db.read() as session:
        assert len(audit.entries(session, "image/hv/channel/stable")) == 1


def test_promote_refuses_unknown_version_and_missing_artifacts(
    db: Database, store: ArtifactStore
) -> None:
    factory.version(db, store, "hv", "1")
    with db.write() as session, pytest.raises(NotFound, match="no version '9'"):
        catalog.promote(session, store, "hv", "9", "stable", "t")
    with db.read() as session:
        kernel = next(
            f for f in catalog.get_version(session, "hv", "1").files if f.role == "kernel"
        )
    store.remove(kernel.sha256)
    with db.write() as session, pytest.raises(Conflict, match="missing from the store: vmlinuz"):
        catalog.promote(session, store, "hv", "1", "stable", "t")
    with db.read() as session:
        assert session.scalars(select(Channel)).all() == []


def test_version_in_use_cannot_be_deleted(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    factory.version(db, store, "hv", "2")
    factory.promote(db, store, "hv", "1", "stable")
    factory.node(db, hostname="n1", interfaces=[{"mac": "52:54:00:00:00:01"}], image="hv=2")
    with db.write() as session, pytest.raises(Conflict, match="channel stable"):
        catalog.delete_version(session, "hv", "1", "t")
    with db.write() as session, pytest.raises(Conflict, match="node n1"):
        catalog.delete_version(session, "hv", "2", "t")
    with db.read() as session:
        assert image_view(catalog.get_image(session, "hv")).versions == ["1", "2"]


def test_deleting_a_version_frees_only_its_own_blobs(db: Database, store: ArtifactStore) -> None:
    shared = factory.blob(store, "vmlinuz", b"shared kernel")
    one = factory.blob(store, "initrd.img", b"initrd one")
    two = factory.blob(store, "initrd.img", b"initrd two")
    with db.write() as session:
        catalog.add_version(session, "hv", "1", shared, [one], None, "", "", "t")
        catalog.add_version(session, "hv", "2", shared, [two], None, "", "", "t")
    with db.write() as session:
        released = catalog.delete_version(session, "hv", "1", "t")
    assert released == [one.sha256]
    with db.read() as session:
        assert {a.sha256 for a in session.scalars(select(Artifact))} == {shared.sha256, two.sha256}


def test_delete_image_refused_while_nodes_follow_it(db: Database, store: ArtifactStore) -> None:
    factory.version(db, store, "hv", "1")
    factory.node(db, hostname="n1", interfaces=[{"mac": "52:54:00:00:00:01"}], image="hv@stable")
    with db.write() as session, pytest.raises(Conflict, match="n1"):
        catalog.delete_image(session, "hv", "t")
    factory.node(db, hostname="n1", interfaces=[{"mac": "52:54:00:00:00:01"}], image=None)
    with db.write() as session:
        assert len(catalog.delete_image(session, "hv", "t")) == 2
    with db.read() as session, pytest.raises(NotFound):
        catalog.get_image(session, "hv")


@pytest.mark.parametrize("name", ["", "../x", "a/b", "x" * 65, "-lead"])
def test_bad_names_are_refused(db: Database, store: ArtifactStore, name: str) -> None:
    with pytest.raises(InvalidInput):
        factory.version(db, store, "hv", name)
