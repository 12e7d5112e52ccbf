"""Content-addressed blob store: one file per sha256, whatever number of
versions use it.

Writes stream through a locked temporary file in the same filesystem, are
fsynced and renamed into place, so a reader never sees a partial blob and a
killed import leaves only a temporary file that the next store opening removes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bootsvc.errors import ChecksumMismatch, InvalidInput, PayloadTooLarge

CHUNK = 1 << 20
STALE_SECONDS = 3600
_TEMP_PREFIX = ".incoming-"
_TEMP_GRACE_SECONDS = 60
_SHA256 = re.compile(r"[0-9a-f]{64}")


def checked_sha256(value: str) -> str:
    digest = value.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise InvalidInput(f"{value!r} is not a sha256 (64 hex digits)")
    return digest


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int


class ArtifactStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "artifacts"
        self.tmp = data_dir / "tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        digest = checked_sha256(sha256)
        return self.root / digest[:2] / digest

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def ingest(
        self,
        source: IO[bytes],
        expected_sha256: str | None = None,
        max_bytes: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Blob:
        """Stream `source` into the store and return its digest and size."""
        expected = checked_sha256(expected_sha256) if expected_sha256 else None
        digest = hashlib.sha256()
        size = 0
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.tmp)
        temp = Path(temp_name)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(fd, "wb", closefd=False) as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise PayloadTooLarge(f"upload is larger than {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    if progress:
                        progress(len(chunk))
                out.flush()
                os.fsync(fd)
            if size == 0:
                raise InvalidInput("file is empty")
            sha = digest.hexdigest()
            if expected and sha != expected:
                raise ChecksumMismatch(f"sha256 is {sha}, expected {expected}")
            final = self.path(sha)
            final.parent.mkdir(exist_ok=True)
            temp.replace(final)

            _fsync_dir(final.parent)
            return Blob(sha, size)
        finally:
            os.close(fd)
            temp.unlink(missing_ok=True)

    def ingest_file(
        self,
        path: Path,
        expected_sha256: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Blob:
        try:
            with path.open("rb") as source:
                return self.ingest(source, expected_sha256, progress=progress)
        except FileNotFoundError:
            raise InvalidInput(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InvalidInput(f"{path}: is a directory") from None
        except PermissionError:
            raise InvalidInput(f"{path}: permission denied") from None

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def problem(self) -> str | None:
        """Why imports or serving would fail here (None when they would not):
        the blobs must be listable and a temporary file writable."""
        try:
            next(self.root.iterdir(), None)
            with tempfile.TemporaryFile(prefix=_TEMP_PREFIX, dir=self.tmp) as probe:
                probe.write(b"\0")
        except OSError as exc:
            return f"{exc.strerror or type(exc).__name__}: {exc.filename or self.root}"
        return None

    def blobs(self) -> Iterator[tuple[str, float]]:
        """Every stored digest with its modification time."""
        for path in self.root.glob("??/*"):
            yield path.name, path.stat().st_mtime

    def remove_stale_temporaries(self) -> int:
        """Remove temporary files of imports that died (nobody holds their lock)."""
        removed = 0
        young = time.time() - _TEMP_GRACE_SECONDS
        for path in self.tmp.glob(f"{_TEMP_PREFIX}*"):
            try:
                if path.stat().st_mtime > young:
                    continue
                handle = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            else:
                path.unlink(missing_ok=True)
                removed += 1
            finally:
                os.close(handle)
        return removed

    def remove_unregistered(self, registered: set[str], min_age: float = STALE_SECONDS) -> int:
        """Remove blobs no database row knows, left by an import killed between
        its rename and its commit; young ones may belong to an import under way."""
        cutoff = time.time() - min_age
        removed = 0
        for sha, mtime in list(self.blobs()):
            if sha not in registered and mtime < cutoff:
                self.remove(sha)
                removed += 1
        return removed


def _fsync_dir(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
