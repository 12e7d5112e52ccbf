"""Importing versions from local files, given on the command line or listed
in a manifest (the file image builds write next to what they built).

Files are streamed into the artifact store first; the version is registered
in one transaction after all of them are safely stored, so an import killed
at any point registers nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from bootsvc.core.catalog import catalog
from bootsvc.core.catalog.catalog import FileRef
from bootsvc.core.cmdb import names
from bootsvc.core.cmdb.documents import load_json, load_yaml, read_text
from bootsvc.core.cmdb.records import BuildRecord, FileName, ObjectName, Record, Sha256, parse
from bootsvc.core.views.objects import VersionView, version_view
from bootsvc.errors import Conflict, InvalidInput, NotFound
from bootsvc.store.artifacts import ArtifactStore
from bootsvc.store.db import Database

MANIFEST_FORMAT = "bootsvc-image/1"

# Given a file's label and size (None when unknown, as for a pipe), returns a
# context whose value is called with the number of bytes read as they come.
ProgressFactory = Callable[[str, int | None], AbstractContextManager[Callable[[int], None]]]


@dataclass(frozen=True)
class LocalFile:
    path: Path
    sha256: str | None = None
    name: str | None = None

    @property
    def served_name(self) -> str:
        return names.file_name(self.name or self.path.name)


class ManifestFile(Record):
    path: str
    sha256: Sha256 | None = None
    name: FileName | None = None


class Manifest(Record):
    format: Literal["bootsvc-image/1"] = "bootsvc-image/1"

    name: ObjectName
    version: ObjectName
    kernel: str | ManifestFile
    initrds: list[str | ManifestFile] = Field(min_length=1)
    rootfs: str | ManifestFile | None = None
    cmdline: str = ""
    notes: str = ""
    build: BuildRecord | None = None

    def served_names(self) -> list[str]:
        entries = [self.kernel, *self.initrds, *([self.rootfs] if self.rootfs else [])]
        return [_local(entry, Path()).served_name for entry in entries]

    @model_validator(mode="after")
    def _sizes_name_the_files(self) -> Manifest:
        if self.build is not None:
            files, sized = set(self.served_names()), set(self.build.sizes)
            if files != sized:
                missing = sorted(files - sized)
                raise InvalidInput(
                    f"build.sizes: no size for {missing[0]}"
                    if missing
                    else f"build.sizes: {sorted(sized - files)[0]} is not a file of this manifest"
                )
        return self


@dataclass(frozen=True)
class VersionFiles:
    image: str
    version: str
    kernel: LocalFile
    initrds: list[LocalFile]
    rootfs: LocalFile | None
    cmdline: str
    notes: str
    build: BuildRecord | None = None


def _local(entry: str | ManifestFile, base: Path) -> LocalFile:
    if isinstance(entry, str):
        entry = ManifestFile(path=entry)
    return LocalFile(path=base / entry.path, sha256=entry.sha256, name=entry.name)


def read_manifest(path: Path) -> VersionFiles:
    text = read_text(path)
    data = load_json(text, str(path)) if path.suffix == ".json" else load_yaml(text, str(path))
    manifest = parse(Manifest, data, prefix=f"{path}: ")
    base = path.parent
    return VersionFiles(
        image=manifest.name,
        version=manifest.version,
        kernel=_local(manifest.kernel, base),
        initrds=[_local(entry, base) for entry in manifest.initrds],
        rootfs=_local(manifest.rootfs, base) if manifest.rootfs else None,
        cmdline=manifest.cmdline,
        notes=manifest.notes,
        build=manifest.build,
    )


def _size(path: Path) -> int | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size if path.is_file() else None


def _store(store: ArtifactStore, local: LocalFile, progress: ProgressFactory | None) -> FileRef:
    label = local.served_name
    context = progress(label, _size(local.path)) if progress else nullcontext(None)
    with context as advance:
        blob = store.ingest_file(local.path, local.sha256, progress=advance)
    return FileRef(name=label, sha256=blob.sha256, size=blob.size)


def import_version(
    db: Database,
    store: ArtifactStore,
    files: VersionFiles,
    actor: str,
    progress: ProgressFactory | None = None,
) -> VersionView:
    names.object_name(files.image, "image name")
    names.object_name(files.version, "version")
    every = [files.kernel, *files.initrds, *([files.rootfs] if files.rootfs else [])]
    labels = [local.served_name for local in every]
    if len(set(labels)) != len(labels):
        raise InvalidInput(f"file names must differ within a version: {labels}")
    for local in every:
        if not local.path.exists():
            raise InvalidInput(f"{local.path}: no such file")
    with db.read() as session:
        try:
            catalog.get_version(session, files.image, files.version)
        except NotFound:
            pass
        else:
            raise Conflict(f"image {files.image!r} already has a version {files.version!r}")
    kernel = _store(store, files.kernel, progress)
    initrds = [_store(store, local, progress) for local in files.initrds]
    rootfs = _store(store, files.rootfs, progress) if files.rootfs else None
    with db.write() as session:
        row = catalog.add_version(
            session,
            files.image,
            files.version,
            kernel,
            initrds,
            rootfs,
            files.cmdline,
            files.notes,
            actor,
            files.build,
            catalog.KernelFacts.read(store.path(kernel.sha256)),
        )
        return version_view(row)
