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

from bootsvc.core import catalog, imports
from bootsvc.errors import ChecksumMismatch, Conflict
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
