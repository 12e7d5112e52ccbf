"""Rendering an admin page: templates/ui/NAME, which a site overrides with
ui/NAME in its own template directory, like every other template."""

from __future__ import annotations

import secrets
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Response, g, session, url_for
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bootsvc.core.render import builtin_template_dir
from bootsvc.web.context import services


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


def _size(value: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


@lru_cache(maxsize=8)
def environment(site_dir: Path | None) -> Environment:
    search = [str(site_dir)] if site_dir else []
    search.append(str(builtin_template_dir()))
    env = Environment(
        loader=FileSystemLoader(search),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["url_for"] = url_for
    env.filters["when"] = _when
    env.filters["size"] = _size
    return env


def page(name: str, status: int = 200, **context: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    template = environment(services().settings.template_dir).get_template(f"ui/{name}")
    html = template.render(
        viewer=g.get("viewer"),
        csrf=session.get("csrf", ""),
        notice=session.pop("notice", None),
        nonce=nonce,
        **context,
    )
    response = Response(html, status, mimetype="text/html")
    # No framing (a hidden frame could click a button for the admin), no
    # scripts but the page's own, nothing cached past the session.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def go(url: str) -> Response:
    """To another page; after a form, "see other" makes the browser GET it."""
    response = Response(status=303)
    response.headers["Location"] = url
    return response
