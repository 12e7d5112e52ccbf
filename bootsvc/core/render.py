"""Files that nodes and firmware receive are Jinja2 templates under
templates/; a site overrides one by putting a file of the same name in its own
template directory, which is searched first."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from bootsvc import datafiles
from bootsvc.errors import InvalidInput


def builtin_template_dir() -> Path:
    return datafiles.shipped("templates")


def template_environment(site_dir: Path | None) -> Environment:
    """The one Jinja setup for every file bootsvc renders: strict about
    undefined names, no HTML escaping, the site's directory first."""
    search = [str(site_dir)] if site_dir else []
    search.append(str(builtin_template_dir()))
    return Environment(
        loader=FileSystemLoader(search),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701 - iPXE scripts and config files, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )


@lru_cache(maxsize=8)
def environment(site_dir: Path | None) -> Environment:
    return template_environment(site_dir)


class TemplateFailure(InvalidInput):
    code = "template"


def render(site_dir: Path | None, name: str, context: dict[str, Any]) -> str:
    try:
        return environment(site_dir).get_template(name).render(context)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"{name}:{line}" if line else name
        raise TemplateFailure(
            f"template {where}: {exc.message}", template=name, line=line
        ) from None
