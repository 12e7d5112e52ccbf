"""The images the suite boots, built from their recipes once per machine and
kept in the build cache (~/.cache/bootsvc), with the root of the container
that runs bootsvc's unit under systemd.

`python -m tests.support.images` builds them all before pytest starts
(scripts/test.sh), so that building them counts as setup, not as test time;
the fixtures then find them in the cache.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bootsvc.errors import BootsvcError
from bootsvc.images import builder, recipes
from bootsvc.settings import default_image_cache_dir
from tests.support import systemd_container

SUITE_IMAGES = (
    (recipes.SAMPLE_IMAGE, "1"),
    (recipes.SAMPLE_IMAGE, "2"),
    (recipes.SAMPLE_IMAGE_ARM64, "1"),
    ("debian-dracut", "1"),
    ("debian-hypervisor", "1"),
    ("debian-hypervisor", "2"),
)


def manifest(recipe: str, version: str) -> Path:
    """The manifest of `recipe` at `version`, built now or found in the cache."""
    request = builder.BuildRequest(recipe, version)
    return builder.build(request, default_image_cache_dir()).manifest


def main() -> int:
    for recipe, version in SUITE_IMAGES:
        started = time.monotonic()
        try:
            manifest(recipe, version)
        except BootsvcError as exc:
            print(f"image {recipe} {version}: {exc}", file=sys.stderr)
            return 1
        print(f"image {recipe} {version}: {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    systemd_container.root_tree()
    print(f"systemd container root: {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
