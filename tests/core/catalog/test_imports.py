"""Imports killed at any point leave nothing visible and nothing registered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bootsvc.core.catalog import catalog, imports
from bootsvc.errors import ChecksumMismatch, Conflict, InvalidInput
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database
from bootsvc.store.models import Artifact


def start_import(
    data_dir: Path, db: Database, kernel: Path, initrd: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BOOTSVC_DATA_DIR": str(data_dir), "BOOTSVC_DATABASE_URL": db.url}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bootsvc",
            "image",
            "import",
            "--name",
            "hv",
            "--version",
            "1",
            "--kernel",
            str(kernel),
            "--initrd",
            str(initrd),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def assert_nothing_registered(db: Database, store: ArtifactStore) -> None:
    with db.read() as session:
        assert catalog.list_images(session) == []
        assert session.scalars(select(Artifact)).all() == []


def wait_for_temporary(store: ArtifactStore, size: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.stat().st_size >= size for p in store.tmp.glob(".incoming-*")):
            return
        time.sleep(0.05)
    raise AssertionError("the import never started writing")


@pytest.mark.parametrize("killed_during", ["kernel", "initrd"])
def test_killed_import_leaves_nothing(
    db: Database, store: ArtifactStore, data_dir: Path, tmp_path: Path, killed_during: str
) -> None:
    """The file being copied is a pipe we feed by hand, so the import is
    certainly in the middle of it when it is killed."""
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd.img"
    pipe = kernel if killed_during == "kernel" else initrd
    os.mkfifo(pipe)
    other = initrd if killed_during == "kernel" else kernel
    other.write_bytes(b"a complete file" * 1000)
    process = start_import(data_dir, db, kernel, initrd)
    with pipe.open("wb") as feed:
        feed.write(os.urandom(4 << 20))
        feed.flush()
        wait_for_temporary(store, 1 << 20)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert_nothing_registered(db, store)
    stored = [sha for sha, _ in store.blobs()]
    if killed_during == "kernel":
        assert stored == []
    else:
        assert len(stored) == 1
    old = time.time() - 7200
    for path in [*store.tmp.iterdir(), *(store.path(sha) for sha in stored)]:
        os.utime(path, (old, old))
    assert store.remove_stale_temporaries() == 1
    assert store.remove_unregistered(set()) == len(stored)
    assert list(store.tmp.iterdir()) == [] and list(store.blobs()) == []


def test_checksum_mismatch_in_manifest_registers_nothing(
    db: Database, store: ArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "initrd.img").write_bytes(b"initrd")
    manifest = tmp_path / "m.json"
    manifest.write_text(
        '{"name": "hv", "version": "1", "kernel": "vmlinuz",'
        ' "initrds": [{"path": "initrd.img", "sha256": "' + "1" * 64 + '"}]}'
    )
    with pytest.raises(ChecksumMismatch):
        imports.import_version(db, store, imports.read_manifest(manifest), "t")
    assert_nothing_registered(db, store)


def test_existing_version_is_refused_before_copying(
    db: Database, store: ArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "initrd.img").write_bytes(b"initrd")
    files = imports.VersionFiles(
        "hv",
        "1",
        imports.LocalFile(tmp_path / "vmlinuz"),
        [imports.LocalFile(tmp_path / "initrd.img")],
        None,
        "",
        "",
    )
    imports.import_version(db, store, files, "t")
    (tmp_path / "vmlinuz").write_bytes(b"another kernel")
    with pytest.raises(Conflict, match="already has a version '1'"):
        imports.import_version(db, store, files, "t")
    assert len(list(store.blobs())) == 2


BUILD = """
build:
  recipe: hv-recipe
  recipe_hash: %s
  built_at: '2026-12-01T10:00:00Z'
  host: builder1
  packages: {corosync: 3.1.7-1, libc6:amd64: '2.36-9'}
  sizes: {vmlinuz: 6, initrd.img: 6}
""" % ("ab" * 32)


def _manifest(tmp_path: Path, build: str) -> Path:
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "initrd.img").write_bytes(b"initrd")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "format: bootsvc-image/1\nname: hv\nversion: '1'\nkernel: vmlinuz\n"
        "initrds: [initrd.img]\n" + build
    )
    return manifest


def test_the_build_record_is_stored_with_the_version(
    db: Database, store: ArtifactStore, tmp_path: Path
) -> None:
    view = imports.import_version(db, store, imports.read_manifest(_manifest(tmp_path, BUILD)), "t")
    assert view.build is not None
    assert view.build.packages == {"corosync": "3.1.7-1", "libc6:amd64": "2.36-9"}
    assert view.build.sizes == {"vmlinuz": 6, "initrd.img": 6}
    assert view.build.recipe_hash == "ab" * 32 and view.build.host == "builder1"
    with db.read() as session:
        stored = catalog.get_version(session, "hv", "1").build
    assert stored is not None and stored["built_at"] == "2026-12-01T10:00:00Z"


def test_a_manifest_without_a_build_record_still_imports(
    db: Database, store: ArtifactStore, tmp_path: Path
) -> None:
    view = imports.import_version(db, store, imports.read_manifest(_manifest(tmp_path, "")), "t")
    assert view.build is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("host: builder1", "host: ''"), "build.host: String should have at least 1 character"),
        (("T10:00:00Z", "T10:00:00+02:00"), "build.built_at: must be in UTC"),
        (("T10:00:00Z", "T10:00:00"), "build.built_at: Input should have timezone info"),
        (("corosync:", "Corosync:"), "build.packages.Corosync.[key]: String should match"),
        (("3.1.7-1", "'3.1 7'"), "build.packages.corosync: String should match"),
        (("initrd.img: 6", "initrd.img: -1"), "build.sizes.initrd.img: Input should be greater"),
        (("vmlinuz: 6, ", ""), "build.sizes: no size for vmlinuz"),
        (("initrd.img: 6}", "initrd.img: 6, rootfs: 9}"), "rootfs is not a file of this manifest"),
        (("recipe_hash: ", "recipe_hash: x"), "build.recipe_hash: "),
        (("  host: builder1\n", ""), "build.host: Field required"),
        (("  host: builder1\n", "  host: builder1\n  tool: x\n"), "build.tool: Extra inputs"),
    ],
)
def test_a_bad_build_record_is_refused_in_one_line(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    manifest = _manifest(tmp_path, BUILD.replace(*change))
    with pytest.raises(InvalidInput) as refused:
        imports.read_manifest(manifest)
    assert message in refused.value.message and "\n" not in refused.value.message


def test_sizes_that_do_not_match_the_files_are_refused(
    db: Database, store: ArtifactStore, tmp_path: Path
) -> None:
    manifest = _manifest(tmp_path, BUILD.replace("vmlinuz: 6", "vmlinuz: 7"))
    with pytest.raises(InvalidInput, match="vmlinuz has 6 bytes, the build recorded 7"):
        imports.import_version(db, store, imports.read_manifest(manifest), "t")
    with db.read() as session:
        assert catalog.list_images(session) == []
