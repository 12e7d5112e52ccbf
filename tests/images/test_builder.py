"""Builds of a recipe: recorded in their manifest, cached by their inputs,
put where the admin asks."""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bootsvc.core.catalog import imports
from bootsvc.images import BuildError, builder, export
from tests.support import fakerecipes

KERNEL = "linux-image-6.1.0-1-amd64"


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    return fakerecipes.make(tmp_path / "recipes")


def _build(recipes: Path, cache: Path, mirror: str | None = None) -> builder.Build:
    request = builder.BuildRequest("tiny", "1", kernel_package=KERNEL, mirror=mirror)
    return builder.build(request, cache, recipes)


def test_the_manifest_records_packages_sizes_inputs_time_and_host(
    recipes: Path, tmp_path: Path
) -> None:
    done = _build(recipes, tmp_path / "cache")
    files = imports.read_manifest(done.manifest)
    record = files.build
    assert record is not None and not done.cached
    assert record.recipe == "tiny"
    assert done.directory.name == f"1-{record.recipe_hash[:20]}"
    assert record.packages == {
        "linux-image-6.1.0-1-amd64": "6.1.1-1",
        "busybox-static": "1:1.35.0-4",
    }
    assert record.sizes == {"vmlinuz": 8, "initrd.img": 6, "root.squashfs": 6}
    assert record.host == socket.gethostname()
    assert timedelta(0) <= datetime.now(UTC) - record.built_at < timedelta(minutes=1)
    assert files.rootfs is not None
    assert files.rootfs.sha256 == hashlib.sha256(b"root 1").hexdigest()
    assert "still" not in (done.directory / builder.LOG).read_text()
    assert fakerecipes.leftovers(tmp_path / "cache") == sorted(
        done.directory.parent.parent.rglob("*")
    )


def test_the_same_inputs_are_built_once(recipes: Path, tmp_path: Path) -> None:
    first = _build(recipes, tmp_path / "cache")
    before = first.manifest.read_bytes()
    again = _build(recipes, tmp_path / "cache")
    assert again.cached and again.manifest == first.manifest
    assert again.manifest.read_bytes() == before
    other = _build(recipes, tmp_path / "cache", mirror="http://127.0.0.1:9/debian")
    assert not other.cached and other.manifest != first.manifest


def test_an_unknown_recipe_is_refused_before_anything_runs(recipes: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no image recipe 'gone'"):
        builder.build(builder.BuildRequest("gone", "1", KERNEL), tmp_path / "cache", recipes)
    assert not (tmp_path / "cache").exists()


def test_export_links_the_build_and_replaces_only_its_own_files(
    recipes: Path, tmp_path: Path
) -> None:
    done = _build(recipes, tmp_path / "cache")
    out = tmp_path / "out"
    out.mkdir()
    (out / "vmlinuz").write_text("old")
    (out / "notes.txt").write_text("mine")
    export.export(done.directory, out)
    assert (out / "vmlinuz").read_bytes() == b"kernel 1"
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "manifest.yaml").samefile(done.manifest)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(p.name for p in done.directory.iterdir()), "notes.txt"]
    )
