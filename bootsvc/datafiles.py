"""Where the files bootsvc ships beside its code live: templates/, images/
and kickstart/ of the checkout, or share/bootsvc/ when installed from a
wheel."""

from __future__ import annotations

import sys
from pathlib import Path


def shipped(name: str) -> Path:
    source = Path(__file__).resolve().parents[1] / name
    if source.is_dir():
        return source
    return Path(sys.prefix) / "share" / "bootsvc" / name
