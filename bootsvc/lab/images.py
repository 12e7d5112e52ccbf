"""Building image recipes (images/<name>/build.sh), cached by their inputs.

A build is identified by a hash of what goes into it: every file of the
recipe and of images/common, the version string, the kernel package and the
busybox it packs. The same inputs reuse the earlier build, so tests and the
demo build each version once per machine, not once per run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bootsvc.core import names
from bootsvc.lab.system import LabError, require_tools, run

MANIFEST = "manifest.yaml"
SAMPLE_IMAGE = "busybox-test"


def recipes_dir() -> Path:
    """images/ beside the package in a checkout, or share/bootsvc/images when
    installed from a wheel."""
    source = Path(__file__).resolve().parents[2] / "images"
    if source.is_dir():
        return source
    return Path(sys.prefix) / "share" / "bootsvc" / "images"


def recipe_path(name: str) -> Path:
    path = recipes_dir() / names.object_name(name, "recipe")
    if not (path / "build.sh").is_file():
        raise LabError(f"no image recipe {name!r} in {recipes_dir()}")
    return path


def kernel_package() -> str:
    """The kernel package Debian's linux-image-amd64 points at now."""
    for line in run(["apt-cache", "depends", "linux-image-amd64"]).splitlines():
        kind, _, package = line.strip().partition(": ")
        if kind == "Depends" and package.startswith("linux-image-"):
            return package
    raise LabError("apt-cache knows no linux-image-amd64: run apt-get update")


def _package_version(package: str) -> str:
    try:
        return run(["dpkg-query", "-W", "-f=${Version}", package])
    except LabError:
        return "absent"


def _tree_digest(digest: hashlib._Hash, root: Path) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def input_key(recipe: Path, version: str, kernel: str) -> str:
    digest = hashlib.sha256()
    for part in (version, kernel, _package_version("busybox-static")):
        digest.update(part.encode() + b"\0")
    _tree_digest(digest, recipe)
    _tree_digest(digest, recipe.parent / "common")
    return digest.hexdigest()[:20]


def build(
    name: str,
    version: str,
    cache_dir: Path,
    kernel: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> Path:
    """The manifest of `name` at `version`, built now or found in the cache."""
    names.object_name(version, "version")
    recipe = recipe_path(name)
    if name == SAMPLE_IMAGE:
        require_tools(
            {
                "apt-get": "apt",
                "dpkg-deb": "dpkg",
                "modprobe": "kmod",
                "cpio": "cpio",
                "mksquashfs": "squashfs-tools",
                "busybox": "busybox-static",
            }
        )
    kernel = kernel or kernel_package()
    target = cache_dir / "images" / name / f"{version}-{input_key(recipe, version, kernel)}"
    if (target / MANIFEST).is_file():
        return target / MANIFEST
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        "bash",
        str(recipe / "build.sh"),
        "--version",
        version,
        "--out",
        str(partial),
        "--kernel-package",
        kernel,
        "--debs",
        str(cache_dir / "debs"),
    ]
    if echo is not None:
        echo(f"building image {name} {version} (cached afterwards in {target})")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not (partial / MANIFEST).is_file():
        shutil.rmtree(partial, ignore_errors=True)
        raise LabError(f"building {name} {version} failed:\n{done.stderr.strip()[-2000:]}")
    try:
        partial.rename(target)
    except OSError:
        # Another build of the same inputs finished first; its result is as good.
        shutil.rmtree(partial, ignore_errors=True)
    return target / MANIFEST
