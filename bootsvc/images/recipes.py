"""Finding image recipes and the inputs that identify a build of one.

A build is identified by a hash of what goes into it: every file of the
recipe, of images/common and of the other recipes' files it copies in, the
version string, the kernel package, the busybox (and for busybox-test the
tpm2-tools and openssl) it packs, the versions of the foreign-architecture
packages it unpacks (busybox-test-arm64) and the options forwarded to the
recipe. The same inputs reuse the earlier build.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bootsvc import datafiles
from bootsvc.core.cmdb import names
from bootsvc.images import BuildError

SAMPLE_IMAGE = "busybox-test"
SAMPLE_IMAGE_ARM64 = "busybox-test-arm64"
COMMON = "common"

_BUSYBOX_TEST_TOOLS = {
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    "modprobe": "kmod",
    "cpio": "cpio",
    "mksquashfs": "squashfs-tools",
    "busybox": "busybox-static",
}
# Host commands a recipe runs, by the Debian package that has them.
TOOLS = {
    "busybox-test": {**_BUSYBOX_TEST_TOOLS, "tpm2": "tpm2-tools", "openssl": "openssl"},
    SAMPLE_IMAGE_ARM64: _BUSYBOX_TEST_TOOLS,
    "debian-hypervisor": {
        "mmdebstrap": "mmdebstrap",
        "mksquashfs": "squashfs-tools",
        "cpio": "cpio",
    },
    "debian-dracut": {"mmdebstrap": "mmdebstrap", "mksquashfs": "squashfs-tools"},
}

# Folders of other recipes (under the recipes' root) whose files a recipe
# copies into its image: inputs of its builds as much as its own files.
SHARED_INPUTS = {
    "debian-dracut": ("debian-hypervisor/files",),
    SAMPLE_IMAGE_ARM64: ("busybox-test/initramfs", "busybox-test/rootfs"),
}

# Host packages whose files a recipe packs, besides busybox-static (every
# recipe's input): their versions are inputs of its builds.
HOST_PACKAGES = {"busybox-test": ("tpm2-tools", "openssl")}

# Packages of another architecture a recipe downloads and unpacks: the
# versions apt would fetch now are inputs of its builds.
FOREIGN_PACKAGES = {SAMPLE_IMAGE_ARM64: ("busybox-static:arm64",)}

# The package whose kernel a recipe packs, by the metapackage that points at it.
KERNEL_METAPACKAGES = {SAMPLE_IMAGE_ARM64: "linux-image-arm64:arm64"}


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path

    @property
    def script(self) -> Path:
        return self.path / "build.sh"


def default_dir() -> Path:
    return datafiles.shipped("images")


def available(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(path.parent.name for path in root.glob("*/build.sh"))


def find(name: str, root: Path) -> Recipe:
    names.object_name(name, "recipe")
    recipe = Recipe(name, root / name)
    if not recipe.script.is_file():
        known = ", ".join(available(root)) or "none"
        raise BuildError(f"no image recipe {name!r} in {root} (recipes: {known})")
    return recipe


def _query(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return done.stdout if done.returncode == 0 else None


def kernel_package(recipe: str = SAMPLE_IMAGE) -> str:
    """The kernel package the recipe's metapackage (linux-image-amd64 for
    most) points at now, without an architecture suffix."""
    meta = KERNEL_METAPACKAGES.get(recipe, "linux-image-amd64")
    for line in (_query(["apt-cache", "depends", meta]) or "").splitlines():
        kind, _, package = line.strip().partition(": ")
        if kind == "Depends" and package.startswith("linux-image-"):
            return package.partition(":")[0]
    hint = " (dpkg --add-architecture arm64 first)" if meta.endswith(":arm64") else ""
    raise BuildError(f"apt-cache knows no {meta}: run apt-get update{hint}")


def candidate_version(package: str) -> str:
    """The version `apt-get download` would fetch."""
    shown = _query(["apt-cache", "show", "--no-all-versions", package]) or ""
    for line in shown.splitlines():
        if line.startswith("Version: "):
            return line.removeprefix("Version: ")
    return "absent"


def installed_version(package: str) -> str:
    return _query(["dpkg-query", "-W", "-f=${Version}", package]) or "absent"


def _tree_digest(digest: hashlib._Hash, root: Path) -> None:
    if not root.is_dir():
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def input_key(recipe: Recipe, version: str, kernel: str, options: Sequence[str] = ()) -> str:
    """The sha256 of every input of a build, as hex."""
    digest = hashlib.sha256()
    for part in (version, kernel, installed_version("busybox-static"), *options):
        digest.update(part.encode() + b"\0")
    for package in HOST_PACKAGES.get(recipe.name, ()):
        digest.update(f"{package}={installed_version(package)}".encode() + b"\0")
    for package in FOREIGN_PACKAGES.get(recipe.name, ()):
        digest.update(f"{package}={candidate_version(package)}".encode() + b"\0")
    _tree_digest(digest, recipe.path)
    _tree_digest(digest, recipe.path.parent / COMMON)
    for shared in SHARED_INPUTS.get(recipe.name, ()):
        _tree_digest(digest, recipe.path.parent / shared)
    return digest.hexdigest()
