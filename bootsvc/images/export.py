"""Putting a finished build where the admin asked (`--out DIR`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bootsvc.errors import InvalidInput


def export(build_dir: Path, out: Path) -> None:
    """Hard-link every file of the build into `out` (copy them when the cache
    is on another filesystem), replacing files of the same name one at a
    time; other files in `out` stay."""
    try:
        _export(build_dir, out)
    except OSError as exc:
        raise InvalidInput(f"{out}: {exc.strerror or exc}") from None


def _export(build_dir: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for source in sorted(path for path in build_dir.iterdir() if path.is_file()):
        temporary = out / f".{source.name}.partial-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        try:
            try:
                os.link(source, temporary)
            except OSError:
                shutil.copy2(source, temporary)
            temporary.replace(out / source.name)
        finally:
            temporary.unlink(missing_ok=True)
