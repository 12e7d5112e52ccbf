"""bootsvc image build: a recipe built (or found in the cache), recorded in
its manifest, imported and promoted; every failure one line that names its
cause, with nothing left in the cache or the catalog."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootsvc.core.catalog import imports
from tests.cli.conftest import Run
from tests.support import fakerecipes

# A closed port on loopback: apt's connection is refused at once.
CLOSED_MIRROR = "http://127.0.0.1:9/debian"


@pytest.fixture
def fakes(env: dict[str, str], tmp_path: Path) -> Path:
    """Point the CLI at the fake recipes and a cache of its own; return the cache."""
    cache = tmp_path / "cache"
    env["BOOTSVC_IMAGE_RECIPES_DIR"] = str(fakerecipes.make(tmp_path / "recipes"))
    env["BOOTSVC_IMAGE_CACHE_DIR"] = str(cache)
    return cache


def _catalog(run: Run) -> list[object]:
    images: list[object] = json.loads(run("image", "list", "--json").stdout)
    return images


def test_busybox_test_is_built_recorded_imported_and_promoted(run: Run) -> None:
    result = run("image", "build", "busybox-test", "--version", "1", "--import", "--channel", "s")
    built, imported, promoted = result.stdout.splitlines()
    manifest = Path(built.rsplit(": ", 1)[1])
    assert built.startswith("busybox-test 1 ") and manifest.name == "manifest.yaml"
    assert imported.startswith("imported busybox-test 1 (")
    assert promoted == "busybox-test@s: (new) -> 1"

    shown = json.loads(run("image", "show", "busybox-test", "1", "--json").stdout)
    build = shown["build"]
    assert build["recipe"] == "busybox-test"
    assert build["recipe_hash"][:20] in str(manifest)
    assert build["sizes"] == {f["name"]: f["size"] for f in shown["files"]}
    assert {f["name"]: f["size"] for f in shown["files"]} == {
        name: (manifest.parent / name).stat().st_size for name in build["sizes"]
    }
    assert "busybox-static" in build["packages"]
    assert any(name.startswith("linux-image-6") for name in build["packages"])
    assert build["built_at"].endswith("Z") and build["host"]

    text = run("image", "show", "busybox-test", "1").stdout
    assert re.search(rf"^packages:\s+{len(build['packages'])} ", text, re.M), text
    assert build["recipe_hash"] in text


def test_a_second_build_is_found_in_the_cache(run: Run) -> None:
    first = run("image", "build", "busybox-test", "--version", "1").stdout
    second = run("image", "build", "busybox-test", "--version", "1").stdout
    assert "found in the build cache" in second
    assert first.rsplit(": ", 1)[1] == second.rsplit(": ", 1)[1]


def test_out_holds_an_importable_copy_of_the_build(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("image", "build", "busybox-test", "--version", "1", "--out", str(out))
    assert result.stdout.strip().endswith(f": {out / 'manifest.yaml'}")
    files = imports.read_manifest(out / "manifest.yaml")
    assert files.build is not None and files.build.recipe == "busybox-test"
    assert files.rootfs is not None and files.rootfs.path == out / "root.squashfs"
    assert files.build.sizes["root.squashfs"] == files.rootfs.path.stat().st_size


def test_channel_without_import_is_refused(run: Run, fakes: Path) -> None:
    result = run("image", "build", "tiny", "--version", "1", "--channel", "stable", code=1)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: --channel needs --import (see ")
    assert fakerecipes.leftovers(fakes) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--extra-package", "-o=evil"], "--extra-package '-o=evil': not a Debian package name"),
        (["--mirror", "deb.debian.org"], "--mirror 'deb.debian.org': not a URL"),
        (["--version", "../1"], "version"),
    ],
)
def test_options_a_recipe_would_misread_are_refused(
    run: Run, fakes: Path, options: list[str], message: str
) -> None:
    result = run("image", "build", "tiny", "--version", "1", *options, code=1)
    [line] = result.stderr.strip().splitlines()
    assert message in line
    assert fakerecipes.leftovers(fakes) == []


def test_out_in_a_place_that_cannot_be_written_is_one_line(
    run: Run, fakes: Path, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")
    result = run(
        "image", "build", "tiny", "--version", "1", "--out", str(tmp_path / "file" / "d"), code=1
    )
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'file' / 'd'}: Not a directory"
    ]


def test_an_unknown_recipe_names_the_known_ones(run: Run, fakes: Path) -> None:
    result = run("image", "build", "nosuch", "--version", "1", "--import", code=1)
    [line] = result.stderr.strip().splitlines()
    assert "no image recipe 'nosuch'" in line and "apt, full, slow, tiny" in line


@pytest.mark.parametrize(
    ("recipe", "options", "cause"),
    [
        ("apt", ["--mirror", CLOSED_MIRROR], f"mirror {CLOSED_MIRROR} is unreachable: "),
        (
            "apt",
            ["--extra-package", "bootsvc-no-such-package", "--extra-package", "busybox"],
            "no packages bootsvc-no-such-package, busybox in the package sources",
        ),
        ("full", [], "no space left on device (head: write error: No space left on device)"),
        ("unlisted", [], "the recipe wrote no packages.tsv"),
    ],
)
def test_a_failed_build_names_its_cause_and_leaves_nothing(
    run: Run, fakes: Path, recipe: str, options: list[str], cause: str
) -> None:
    args = ["image", "build", recipe, "--version", "1", *options, "--import", "--channel", "s"]
    result = run(*args, code=1)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: building {recipe} 1 failed: ")
    assert cause in line
    assert result.stdout == ""
    assert fakerecipes.leftovers(fakes) == []
    assert _catalog(run) == []


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_build_stops_whole_and_leaves_nothing(
    run: Run, env: dict[str, str], fakes: Path, sig: signal.Signals
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bootsvc", "image", "build", "slow", "--version", "1", "--import"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = fakes / "recipes" / "slow" / "started"
    deadline = time.monotonic() + 60
    while not started.exists() or not started.read_text().strip():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode != 0
    assert stderr.strip().splitlines() == [
        "Error: building slow 1 interrupted; nothing was kept"
    ], stderr
    assert stdout == ""
    child = int(started.read_text())
    deadline = time.monotonic() + 10
    while not _gone(child):
        assert time.monotonic() < deadline, f"the build's child {child} still runs"
        time.sleep(0.05)
    assert fakerecipes.leftovers(fakes) == []
    assert _catalog(run) == []
