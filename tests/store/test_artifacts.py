from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path

import pytest

from bootsvc.errors import ChecksumMismatch, InvalidInput, PayloadTooLarge
from bootsvc.store.artifacts import ArtifactStore


def test_same_bytes_are_stored_once(store: ArtifactStore) -> None:
    first = store.ingest(io.BytesIO(b"kernel bytes"))
    second = store.ingest(io.BytesIO(b"kernel bytes"))
    assert first == second
    assert first.sha256 == hashlib.sha256(b"kernel bytes").hexdigest()
    assert first.size == len(b"kernel bytes")
    assert [sha for sha, _ in store.blobs()] == [first.sha256]
    assert store.path(first.sha256).read_bytes() == b"kernel bytes"


def test_large_file_streams_in_chunks(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "big"
    with source.open("wb") as handle:
        for index in range(40):
            handle.write(bytes([index]) * (1 << 20))
    reads: list[int] = []
    blob = store.ingest_file(source, progress=reads.append)
    assert blob.size == 40 << 20
    assert len(reads) == 40 and max(reads) == 1 << 20
    assert hashlib.sha256(source.read_bytes()).hexdigest() == blob.sha256


def test_checksum_mismatch_leaves_nothing(store: ArtifactStore) -> None:
    with pytest.raises(ChecksumMismatch, match="expected"):
        store.ingest(io.BytesIO(b"abc"), expected_sha256="0" * 64)
    assert list(store.blobs()) == []
    assert list(store.tmp.iterdir()) == []


def test_expected_checksum_is_accepted_in_any_case(store: ArtifactStore) -> None:
    digest = hashlib.sha256(b"abc").hexdigest()
    assert store.ingest(io.BytesIO(b"abc"), expected_sha256=digest.upper()).sha256 == digest


def test_empty_and_oversized_are_refused(store: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        store.ingest(io.BytesIO(b""))
    with pytest.raises(PayloadTooLarge):
        store.ingest(io.BytesIO(b"x" * 100), max_bytes=99)
    assert list(store.blobs()) == []
    assert list(store.tmp.iterdir()) == []


def test_missing_file_is_a_clear_error(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        store.ingest_file(tmp_path / "nope")


def test_bad_digest_never_becomes_a_path(store: ArtifactStore) -> None:
    with pytest.raises(InvalidInput):
        store.path("../../etc/passwd")


def test_stale_temporaries_are_removed_but_live_ones_kept(store: ArtifactStore) -> None:
    dead = store.tmp / ".incoming-dead"
    dead.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(dead, (old, old))
    young = store.tmp / ".incoming-young"
    young.write_bytes(b"partial")
    assert store.remove_stale_temporaries() == 1
    assert not dead.exists()
    assert young.exists()


def test_unregistered_blobs_are_removed_once_old(store: ArtifactStore) -> None:
    kept = store.ingest(io.BytesIO(b"registered"))
    orphan = store.ingest(io.BytesIO(b"orphan"))
    assert store.remove_unregistered({kept.sha256}) == 0
    old = time.time() - 7200
    os.utime(store.path(orphan.sha256), (old, old))
    assert store.remove_unregistered({kept.sha256}) == 1
    assert store.has(kept.sha256)
    assert not store.has(orphan.sha256)
