"""The debian-dracut recipe's own promises that need no build: its cache key
follows the debian-hypervisor files it copies in, and its build.sh takes the
options every recipe takes, refusing others in one line. Its boot is proven
in tests/e2e/test_dracut_boot.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bootsvc.images import recipes

RECIPE = "debian-dracut"
KERNEL = "linux-image-6.1.0-1-amd64"


def test_cache_key_follows_the_boot_report_it_shares(tmp_path: Path) -> None:
    source = recipes.default_dir()
    images = tmp_path / "images"
    for part in (RECIPE, "common", "debian-hypervisor/files"):
        shutil.copytree(source / part, images / part, symlinks=True)
    recipe = recipes.find(RECIPE, images)
    key = recipes.input_key(recipe, "1", KERNEL)
    report = images / "debian-hypervisor" / "files" / "bootsvc-report"
    report.write_text(report.read_text() + "\n")
    assert recipes.input_key(recipe, "1", KERNEL) != key


def test_build_refuses_an_option_it_does_not_know(tmp_path: Path) -> None:
    script = recipes.find(RECIPE, recipes.default_dir()).script
    argv = ["bash", str(script), "--version", "1", "--out", str(tmp_path / "out"), "--bogus", "x"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (2, "build.sh: unknown argument --bogus\n")
    assert not (tmp_path / "out").exists()


def test_build_without_a_version_prints_its_usage(tmp_path: Path) -> None:
    script = recipes.find(RECIPE, recipes.default_dir()).script
    done = subprocess.run(
        ["bash", str(script), "--out", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr.startswith("usage: build.sh --version V --out DIR")
