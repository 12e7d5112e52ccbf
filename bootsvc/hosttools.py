"""Checking that the host has the commands bootsvc is about to run."""

from __future__ import annotations

import shutil

from bootsvc.errors import BootsvcError


class MissingTools(BootsvcError):
    code = "missing-tools"


def require_tools(packages: dict[str, str]) -> None:
    """Raise MissingTools naming the Debian packages of the commands that are missing."""
    missing = sorted({package for tool, package in packages.items() if shutil.which(tool) is None})
    if missing:
        raise MissingTools(f"missing commands; on Debian: apt-get install {' '.join(missing)}")
