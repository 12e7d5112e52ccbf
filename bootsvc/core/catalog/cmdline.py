"""Kernel command-line templates of image versions.

Admins write them per version ("boot=live fetch={{ rootfs_url }}"). They are
rendered in a sandbox with undefined names refused, and checked at import, so
a typo fails the import instead of a node's boot.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bootsvc.errors import InvalidInput

_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
)

VARIABLES = ("base_url", "rootfs_url", "image", "version", "hostname", "mac", "ip", "cluster")

_SAMPLE = {
    "base_url": "http://192.0.2.1:8080",
    "rootfs_url": "http://192.0.2.1:8080/artifacts/0/root.squashfs",
    "image": "image",
    "version": "1",
    "hostname": "node",
    "mac": "52:54:00:00:00:01",
    "ip": "192.0.2.10",
    "cluster": "cluster",
}


@lru_cache(maxsize=256)
def _compiled(template: str) -> Template:
    return _ENV.from_string(template)


def render(template: str, values: dict[str, Any]) -> str:
    try:
        text = _compiled(template).render(values)
    except TemplateError as exc:
        raise InvalidInput(f"kernel command line template: {exc}") from None
    return " ".join(text.split())


def check(template: str, has_rootfs: bool) -> None:
    if "\n" in template.strip():
        raise InvalidInput("kernel command line template must be one line")
    sample = dict(_SAMPLE)
    if not has_rootfs:
        del sample["rootfs_url"]
    render(template, sample)
