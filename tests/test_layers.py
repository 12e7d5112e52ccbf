"""The layers import downwards only: protocol code in bootsvc.net knows
nothing of the domain, the domain nothing of its front ends and runtime,
and settings nothing of either (README, Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import bootsvc

PACKAGE = Path(bootsvc.__file__).parent
# Leaf modules every layer may use: they import nothing else of bootsvc.
SHARED = (
    "bootsvc.__version__",
    "bootsvc.digits",
    "bootsvc.errors",
    "bootsvc.logs",
    "bootsvc.metrics",
    "bootsvc.safepath",
)
# The front ends and the runtime, which only they and nothing below import.
ABOVE = ("bootsvc.serve", "bootsvc.web", "bootsvc.cli", "bootsvc.lab")


def imported(path: Path) -> set[str]:
    """Every bootsvc module `path` imports, at any depth of the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("bootsvc.")}


def offenders(folder: str, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    """The files under `folder` that import a module under `forbidden`."""
    found = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        wrong = {name for name in imported(path) if name.startswith(forbidden)}
        if wrong:
            found[str(path.relative_to(PACKAGE))] = wrong
    return found


def test_net_imports_no_domain_store_or_settings() -> None:
    assert offenders("net", ("bootsvc.core", "bootsvc.store", "bootsvc.settings", *ABOVE)) == {}


def test_core_never_imports_front_ends_or_runtime() -> None:
    assert offenders("core", ABOVE) == {}


def test_settings_import_no_layer() -> None:
    assert {
        name for name in imported(PACKAGE / "settings.py") if not name.startswith(SHARED)
    } == set()


def test_metrics_import_no_layer() -> None:
    """The protocol servers count through bootsvc.metrics, so it stays a leaf."""
    for path in (PACKAGE / "metrics").rglob("*.py"):
        assert {name for name in imported(path) if not name.startswith(SHARED)} == set(), path
