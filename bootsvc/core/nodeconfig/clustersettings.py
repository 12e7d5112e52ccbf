"""The cluster settings that templates use, one pydantic model per section
(`cluster.settings["ceph"]`, ...). A section is checked when a template first
uses it, so that a missing or malformed setting is reported with the
template and line that needed it; sections nobody uses are never checked.
Other top-level keys of the cluster settings belong to other features and
are left alone."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from bootsvc.core.cmdb import names
from bootsvc.core.nodeconfig.problems import Problem
from bootsvc.errors import InvalidInput

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _one_line(value: Any) -> Any:
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise InvalidInput("must be one line")
    return value


def _word(value: str) -> str:
    if not _WORD.fullmatch(value):
        raise InvalidInput(f"{value!r} is not a name (letters, digits, '_', '.', '-')")
    return value


def _server(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return names.domain(value)


def _ssh_key(value: str) -> str:
    text = " ".join(value.split())
    parts = text.split(" ")
    try:
        load_ssh_public_key(" ".join(parts[:2]).encode())
    except (ValueError, TypeError, IndexError):
        raise InvalidInput(
            f"{text[:40]!r} is not an SSH public key ('TYPE BASE64 [COMMENT]')"
        ) from None
    return text


Scalar = Annotated[str | int | float | bool, AfterValidator(_one_line)]
Word = Annotated[str, AfterValidator(_word)]
NetworkName = Annotated[str, AfterValidator(names.object_name)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeSettings(Section):
    """`time`: where chrony takes the time from."""

    servers: list[Annotated[str, AfterValidator(_server)]] = Field(min_length=1)


class SshSettings(Section):
    """`ssh`: keys that may log in as root."""

    authorized_keys: list[Annotated[str, AfterValidator(_ssh_key)]] = Field(default_factory=list)


class CorosyncSettings(Section):
    """`corosync`: which cluster network carries the ring, and the totem token
    timeout when the default does not suit."""

    ring: NetworkName = "ring"
    token_ms: int | None = Field(default=None, ge=1000, le=600_000)


class PacemakerSettings(Section):
    """`pacemaker`: the properties set once when the cluster first forms.
    `stonith_enabled` has no default: a cluster must say whether it fences."""

    stonith_enabled: bool
    stonith_timeout: Word | None = None
    no_quorum_policy: Literal["stop", "freeze", "ignore", "demote", "suicide"] | None = None
    properties: dict[Word, Scalar] = Field(default_factory=dict)
    resource_defaults: dict[Word, Scalar] = Field(default_factory=dict)


class CephSettings(Section):
    """`ceph`: networks by cluster network name, and extra ceph.conf options
    by section (`{"global": {"osd_pool_default_size": 3}}`)."""

    fsid: Annotated[str, AfterValidator(names.smbios_uuid)] | None = None
    public_network: NetworkName
    cluster_network: NetworkName | None = None
    libvirt_pool: Word = "rbd"
    overrides: dict[Word, dict[Word, Scalar]] = Field(default_factory=dict)


def _absolute(value: str) -> str:
    if not _PATH.fullmatch(value) or "/../" in f"{value}/":
        raise InvalidInput(f"{value!r} is not an absolute path")
    return value


_PATH = re.compile(r"/[A-Za-z0-9_.+@-][A-Za-z0-9/_.+@-]*")
STATE_PATHS = ("/var/lib/ceph", "/etc/libvirt/qemu", "/var/lib/libvirt")


class StateSettings(Section):
    """`state`: what a node keeps on its state partition across reboots."""

    paths: list[Annotated[str, AfterValidator(_absolute)]] = Field(
        default_factory=lambda: list(STATE_PATHS)
    )


SECTIONS: dict[str, type[Section]] = {
    "time": TimeSettings,
    "ssh": SshSettings,
    "corosync": CorosyncSettings,
    "pacemaker": PacemakerSettings,
    "ceph": CephSettings,
    "state": StateSettings,
}


def problem_of(error: ValidationError, cluster: str, prefix: str, source: str) -> Problem:
    """The first complaint of pydantic as a Problem naming the setting."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "is missing"
    return Problem(f"{source} {cluster}: {where} {message}", setting=where)


def validate_section(cluster: str, raw: Mapping[str, Any], name: str) -> Section:
    model = SECTIONS[name]
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise Problem(f"cluster {cluster}: setting {name} must be a mapping", setting=name)
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise problem_of(exc, cluster, name, "cluster") from None


class SettingsView:
    """`settings.ceph` in a template: the section, checked on first use."""

    def __init__(self, cluster: str, raw: Mapping[str, Any]) -> None:
        self._cluster = cluster
        self._raw = raw
        self._checked: dict[str, Section] = {}

    def has(self, name: str) -> bool:
        return name in self._raw

    def __getattr__(self, name: str) -> Section:
        if name.startswith("_") or name not in SECTIONS:
            raise AttributeError(name)
        if name not in self._checked:
            self._checked[name] = validate_section(self._cluster, self._raw, name)
        return self._checked[name]
