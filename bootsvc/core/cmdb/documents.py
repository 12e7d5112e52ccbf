"""JSON and YAML text from users and nodes, parsed into plain values, with
every way a parser can fail turned into one InvalidInput line.

Python's parsers fail in more ways than their documented error: JSON nested
about a thousand deep raises RecursionError, an integer of more than 4,300
digits ValueError, and YAML aliases can expand a few hundred bytes into
millions of values (a "billion laughs") that everything downstream would
then walk, validate and store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from bootsvc.errors import InvalidInput

# A YAML document may reach at most this many values per byte of its text
# through aliases: merge keys and shared defaults stay far below it, alias
# bombs far above (go-yaml refuses "excessive aliasing" the same way).
_ALIAS_RATIO = 10
_ALIAS_FLOOR = 10_000


class NotYaml(InvalidInput):
    """The text does not parse as YAML (as opposed to parsing into too much)."""


def read_text(path: Path) -> str:
    """A file a user named, as text: unreadable or not UTF-8 is their error."""
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from None


def load_json(text: str | bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidInput(f"{where}: nested too deeply") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{where}: not UTF-8 text") from None
    except ValueError as exc:
        raise InvalidInput(f"{where}: not valid JSON: {exc}") from None


def load_yaml(text: str, where: str) -> Any:
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise InvalidInput(f"{where}: nested too deeply") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise NotYaml(f"{where}: not valid YAML: {exc}") from None

    _refuse_alias_bomb(data, _ALIAS_FLOOR + _ALIAS_RATIO * len(text), where)
    return data


def _refuse_alias_bomb(data: Any, budget: int, where: str) -> None:
    """Counts values as they expand, without recursion (an alias may point
    at its own ancestor), and stops at the budget."""
    pending = [data]
    while pending:
        budget -= 1
        if budget < 0:
            raise InvalidInput(f"{where}: YAML aliases expand to too many values")
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list | set):
            pending.extend(value)
