"""Jinja2 for node files: the site's template directory first, then
templates/, and every failure located at the template and line that caused
it, whether a syntax error, an undefined name, or a Problem raised by a
setting or helper the template used."""

from __future__ import annotations

import json
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from jinja2 import TemplateError
from jinja2 import TemplateSyntaxError as JinjaSyntaxError

from bootsvc.core.nodeconfig.problems import ConfigError, Problem
from bootsvc.core.render import builtin_template_dir, template_environment

# What node files are made from; a change to any file below these is a
# change to every node's inputs.
NODE_TEMPLATE_DIRS = ("overlay", "secrets", "cloud-init")


def _yaml(value: Any) -> str:
    text: str = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=1000)
    return text


def _innermost_template_line(tb: TracebackType | None) -> tuple[str, int] | None:
    """Jinja rewrites tracebacks so that template frames carry the template's
    file name and line; the innermost one is where the template failed."""
    found = None
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _scan(directory: str, found: list[tuple[str, int, int]]) -> None:
    """os.scandir rather than Path.rglob: this runs on every request."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir():
            _scan(entry.path, found)
        else:
            info = entry.stat()
            found.append((entry.path, info.st_mtime_ns, info.st_size))


@dataclass(frozen=True)
class Stamp:
    files: tuple[tuple[str, int, int], ...]


class Templates:
    def __init__(self, site_dir: Path | None) -> None:
        self.dirs = [d for d in (site_dir, builtin_template_dir()) if d is not None]
        self._stamp: Stamp | None = None
        self._taken = 0.0
        self._shared: dict[tuple[str, str], str] = {}
        # Its own instance: node files add filters and clear its cache.
        self.env = template_environment(site_dir)
        self.env.filters.update(
            sh=lambda value: shlex.quote(str(value)),
            yaml=_yaml,
            tojson=lambda value: json.dumps(value, sort_keys=True),
        )

    def _name_of(self, filename: str) -> str:
        for directory in self.dirs:
            try:
                return str(Path(filename).relative_to(directory))
            except ValueError:
                continue
        return filename

    def render(self, node: str, name: str, context: dict[str, Any]) -> str:
        """Template `name` for `node`, or a ConfigError naming the node, the
        template and line that failed, and the setting when one is at fault."""
        try:
            return self.env.get_template(name).render(context)
        except JinjaSyntaxError as exc:
            where = self._name_of(exc.filename) if exc.filename else name
            raise ConfigError(node, f"syntax error: {exc.message}", where, exc.lineno) from None
        except (Problem, TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            located = _innermost_template_line(exc.__traceback__)
            template, line = (self._name_of(located[0]), located[1]) if located else (name, None)
            if isinstance(exc, Problem):
                raise ConfigError(node, exc.reason, template, line, exc.setting) from None
            if isinstance(exc, TemplateError):
                reason = exc.message or type(exc).__name__
            else:
                reason = f"{type(exc).__name__}: {exc}"
            raise ConfigError(node, reason, template, line) from None

    def render_shared(self, node: str, name: str, context: dict[str, Any]) -> str:
        """A template that sees no node (the same for every node), rendered
        once per context while the templates stay as they are."""
        key = (name, repr(sorted(context.items())))
        if key not in self._shared:
            self._shared[key] = self.render(node, name, context)
        return self._shared[key]

    def stamp(self, max_age_s: float = 0.0) -> Stamp:
        """Name, mtime and size of every node template, site and built-in:
        any edit changes it. Taken again when the last one is older than
        `max_age_s`."""
        if self._stamp is not None and time.monotonic() - self._taken < max_age_s:
            return self._stamp
        found: list[tuple[str, int, int]] = []
        for directory in self.dirs:
            for sub in NODE_TEMPLATE_DIRS:
                _scan(str(directory / sub), found)
        stamp = Stamp(tuple(sorted(found)))
        if stamp != self._stamp and self.env.cache is not None:
            # Jinja re-reads a changed file by itself, but not a site file
            # that appears in front of a built-in one it already loaded.
            self.env.cache.clear()
        if stamp != self._stamp:
            self._shared.clear()
        self._stamp = stamp
        self._taken = time.monotonic()
        return stamp
