"""Small image recipes for testing builds without a real one: each fails (or
succeeds) in one known way within a second, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

from bootsvc.images import recipes

# Every fake reads the options bootsvc passes; all of them take a value.
_ARGUMENTS = """#!/bin/bash
set -euo pipefail
version="" out="" cache="" mirror="" packages=()
while [ $# -gt 0 ]; do
    case "$1" in
    --version) version=$2 ;;
    --out) out=$2 ;;
    --cache) cache=$2 ;;
    --mirror) mirror=$2 ;;
    --extra-package) packages+=("$2") ;;
    esac
    shift 2
done
"""

RECIPES = {
    # Builds a manifest of three small files, as a real recipe does.
    "tiny": r"""
mkdir -p "$out"
printf 'kernel %s' "$version" >"$out/vmlinuz"
printf 'initrd' >"$out/initrd.img"
printf 'root %s' "$version" >"$out/root.squashfs"
printf 'linux-image-6.1.0-1-amd64\t6.1.1-1\nbusybox-static\t1:1.35.0-4\n' >"$out/packages.tsv"
sh "$(dirname "$0")/../common/write-manifest" "$out" tiny "$version" \
    "fetch={{ rootfs_url }}" "tiny $version"
""",
    # Like tiny, but lists no packages.
    "unlisted": r"""
mkdir -p "$out"
printf k >"$out/vmlinuz"; printf i >"$out/initrd.img"; printf r >"$out/root.squashfs"
sh "$(dirname "$0")/../common/write-manifest" "$out" unlisted "$version" "" ""
""",
    # Resolves --extra-package names from --mirror with the host's apt-get in
    # a private apt directory, as a recipe installing packages would: real apt
    # messages, and no traffic beyond the mirror given (none without one).
    "apt": r"""
mkdir -p "$out"
echo partial >"$out/vmlinuz"
apt="$cache/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$apt/prefs"
if [ -n "$mirror" ]; then echo "deb $mirror bookworm main"; fi >"$apt/sources.list"
options=(-o "Dir::State=$apt" -o "Dir::State::Lists=$apt/lists" -o Dir::State::status=/dev/null
    -o "Dir::Cache=$apt/cache" -o "Dir::Etc::SourceList=$apt/sources.list"
    -o "Dir::Etc::SourceParts=$apt/parts" -o "Dir::Etc::PreferencesParts=$apt/prefs"
    -o "Dir::Etc::Preferences=$apt/preferences" -o APT::Sandbox::User=root)
# As mmdebstrap runs it: a source that fails to download fails the update.
apt-get "${options[@]}" update --error-on=any
apt-get "${options[@]}" install --simulate "${packages[@]}"
""",
    # Writes to a device that is always full.
    "full": r"""
mkdir -p "$out"
echo partial >"$out/vmlinuz"
head -c 1 /dev/zero >/dev/full
""",
    # Runs until stopped, with a child of its own; says so in $cache/started.
    "slow": r"""
mkdir -p "$out"
echo partial >"$out/vmlinuz"
sleep 300 &
echo $! >"$cache/started"
echo "still building"
wait
""",
}


def make(root: Path) -> Path:
    """A recipes directory with the fakes and the real images/common."""
    shutil.copytree(recipes.default_dir() / recipes.COMMON, root / recipes.COMMON)
    for name, body in RECIPES.items():
        (root / name).mkdir(parents=True)
        (root / name / "build.sh").write_text(_ARGUMENTS + body)
    return root


def leftovers(cache: Path) -> list[Path]:
    """Whatever builds left in the cache: finished builds, partial ones."""
    return sorted(
        path
        for part in ("images", "partial")
        if (cache / part).exists()
        for path in (cache / part).rglob("*")
    )
