"""Printing for people (aligned columns) and for programs (--json)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import click
from pydantic import BaseModel

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def print_json(data: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    if isinstance(data, BaseModel):
        value: Any = data.model_dump(mode="json")
    elif isinstance(data, dict):
        value = data
    else:
        value = [item.model_dump(mode="json") for item in data]
    click.echo(json.dumps(value, indent=2, sort_keys=False))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    click.echo(line.format(*[h.upper() for h in headers]).rstrip())
    for row in cells:
        click.echo(line.format(*row).rstrip())


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        shown = "" if value is None else value
        if isinstance(shown, (list, tuple)):
            shown = ", ".join(str(item) for item in shown)
        elif isinstance(shown, dict):
            shown = json.dumps(shown, sort_keys=True)
        click.echo(f"{key + ':':<{width + 1}} {shown}")


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class StatusLine:
    """One line on a terminal's stderr, rewritten in place as a long step
    goes on: what runs, for how long, and the last thing it printed."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.width = shutil.get_terminal_size().columns

    def __call__(self, elapsed: float, detail: str) -> None:
        shown = "".join(char for char in detail if char.isprintable())
        text = f"{self.label} {elapsed:4.0f} s  {shown}"[: self.width - 1]
        sys.stderr.write(f"\r\x1b[K{text}")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
