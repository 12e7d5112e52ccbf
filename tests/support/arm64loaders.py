"""Debian's signed arm64 shim and network GRUB, for a bootsvc on this amd64
host to serve: downloaded with apt (shim-signed:arm64,
grub-efi-arm64-signed:arm64) and unpacked with dpkg-deb in the build cache,
once per version of the two, as an amd64 site would provide them."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from bootsvc.images import recipes
from bootsvc.settings import default_image_cache_dir

PACKAGES = ("shim-signed:arm64", "grub-efi-arm64-signed:arm64")
SHIM_DIR = Path("usr/lib/shim")
GRUB_DIR = Path("usr/lib/grub/arm64-efi-signed")


def unpacked() -> Path:
    """The root the two packages are unpacked in; see SHIM_DIR and GRUB_DIR."""
    versions = " ".join(f"{p}={recipes.candidate_version(p)}" for p in PACKAGES)
    key = hashlib.sha256(versions.encode()).hexdigest()[:16]
    root = default_image_cache_dir() / "arm64-loaders" / key
    if (root / GRUB_DIR / "grubnetaa64.efi.signed").is_file():
        return root
    partial = root.with_name(f"{key}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    debs = partial / "debs"
    debs.mkdir(parents=True)
    subprocess.run(["apt-get", "download", "-q", *PACKAGES], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(partial / "root")], check=True)
    try:
        (partial / "root").rename(root)
    except OSError:
        # Another session unpacked the same versions first.
        if not (root / GRUB_DIR / "grubnetaa64.efi.signed").is_file():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root


def lab_settings() -> dict[str, str]:
    """The lab server's settings that serve them."""
    root = unpacked()
    return {"arm64_shim_dir": str(root / SHIM_DIR), "arm64_grub_dir": str(root / GRUB_DIR)}
