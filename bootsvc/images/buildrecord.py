"""The build record in a finished build's manifest: recipe hash, time, host,
every package with its version and every file's size. bootsvc adds it after
build.sh succeeded, so a recipe only lists its packages in packages.tsv
(name TAB version per line) and images/common/write-manifest stays simple."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bootsvc.core.catalog import imports
from bootsvc.core.cmdb.records import BuildRecord, parse
from bootsvc.images import BuildError

PACKAGES = "packages.tsv"


def read_packages(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise BuildError(f"the recipe wrote no {PACKAGES} (name TAB version per line)")
    packages: dict[str, str] = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        name, tab, version = line.partition("\t")
        if not (tab and name.strip() and version.strip()):
            raise BuildError(f"{PACKAGES} line {number}: expected NAME<TAB>VERSION, got {line!r}")
        name, version = name.strip(), version.strip()
        if packages.setdefault(name, version) != version:
            raise BuildError(f"{PACKAGES}: {name} is listed with two versions")
    return packages


def add_to_manifest(manifest: Path, recipe: str, recipe_hash: str) -> BuildRecord:
    """Append the build record to the manifest build.sh wrote, and read the
    result back as `bootsvc image import` will."""
    files = imports.read_manifest(manifest)
    if files.build is not None:
        raise BuildError(f"{manifest} has a build record already; bootsvc writes it")
    every = [files.kernel, *files.initrds, *([files.rootfs] if files.rootfs else [])]
    record = parse(
        BuildRecord,
        {
            "recipe": recipe,
            "recipe_hash": recipe_hash,
            "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": socket.gethostname(),
            "packages": read_packages(manifest.parent / PACKAGES),
            "sizes": {local.served_name: local.path.stat().st_size for local in every},
        },
        prefix="build record: ",
    )
    text = manifest.read_text()
    block = yaml.safe_dump(
        {"build": record.model_dump(mode="json")}, sort_keys=False, default_flow_style=False
    )
    manifest.write_text(text + ("" if text.endswith("\n") else "\n") + block)
    imports.read_manifest(manifest)
    return record
