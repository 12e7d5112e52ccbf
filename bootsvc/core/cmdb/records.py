"""What users and integrations send: validated, normalised input records.

The API, the CLI and the bulk importers all parse through these models, so a
bad MAC is refused with the same message wherever it comes from.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from bootsvc.core.cmdb import names
from bootsvc.errors import InvalidInput, PayloadTooLarge

NODE_STATES = ("new", "active", "disabled")
TOKEN_ROLES = ("admin", "cmdb", "reader")
# The node fact and cluster setting that puts a machine on the Secure Boot path.
SECURE_BOOT = "secure_boot"


def secure_boot_is_boolean(values: dict[str, Any]) -> dict[str, Any]:
    """Refuse a `secure_boot` that is not true or false: a "yes" or 1 that
    the boot path ignored would send the node down the wrong path silently."""
    value = values.get(SECURE_BOOT)
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(f"{SECURE_BOOT} must be true or false, not {json.dumps(value)}")
    return values


SecureBootSaid = Annotated[dict[str, Any], AfterValidator(secure_boot_is_boolean)]


def _string(pattern: str | None = None, **extra: Any) -> WithJsonSchema:
    """The documented shape of a field; validation stays with `names`, whose
    messages say what is wrong in words."""
    schema: dict[str, Any] = {"type": "string", **extra}
    if pattern:
        schema["pattern"] = pattern
    return WithJsonSchema(schema)


_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
_IP_SCHEMA = {"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}]}

# What the CMDB stores for a machine: its own unicast MAC, and an address a
# host can hold (never 0.0.0.0, broadcast, multicast or loopback).
Mac = Annotated[
    str,
    AfterValidator(names.unicast_mac),
    _string(r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$", examples=["52:54:00:12:34:56"]),
]
IpAddress = Annotated[str, AfterValidator(names.host_ip), WithJsonSchema(_IP_SCHEMA)]
Cidr = Annotated[
    str,
    AfterValidator(names.cidr),
    _string(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$", examples=["10.0.0.0/24"]),
]
Hostname = Annotated[
    str, AfterValidator(names.hostname), _string(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
]
Domain = Annotated[
    str,
    AfterValidator(names.domain),
    _string(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"),
]
ObjectName = Annotated[str, AfterValidator(names.object_name), _string(_NAME_PATTERN)]
FileName = Annotated[
    str, AfterValidator(names.file_name), _string(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
]
InterfaceName = Annotated[
    str, AfterValidator(names.interface_name), _string(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$")
]
Sha256 = Annotated[str, AfterValidator(names.sha256), _string(r"^[0-9a-f]{64}$")]
SmbiosUuid = Annotated[str, AfterValidator(names.smbios_uuid), _string(format="uuid")]
Vlan = Annotated[
    int,
    AfterValidator(names.vlan),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 4094}),
]


def _split_roles(value: Any) -> Any:
    if isinstance(value, str):
        return [part for part in value.replace(";", ",").split(",") if part.strip()]
    return value


def _sorted_unique_roles(value: list[str]) -> list[str]:
    return sorted({names.role(item) for item in value})


Roles = Annotated[
    list[str],
    BeforeValidator(_split_roles),
    AfterValidator(_sorted_unique_roles),
    WithJsonSchema(
        {"type": "array", "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{0,31}$"}}
    ),
]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InterfaceRecord(Record):
    name: InterfaceName | None = None
    mac: Mac
    ip: IpAddress | None = None
    vlan: Vlan | None = None


class NodeRecord(Record):
    """A node as a CMDB integration describes it. Fields left out are kept as
    they are when the node already exists."""

    hostname: Hostname | None = None
    interfaces: list[InterfaceRecord] = Field(default_factory=list)
    serial: str | None = Field(default=None, max_length=128)
    asset_tag: str | None = Field(default=None, max_length=128)
    uuid: SmbiosUuid | None = None
    cluster: ObjectName | None = None
    roles: Roles = Field(default_factory=list)
    facts: SecureBootSaid = Field(default_factory=dict)
    image: str | None = Field(
        default=None, description="IMAGE@CHANNEL to follow a channel, IMAGE=VERSION to pin"
    )
    state: Literal["new", "active", "disabled"] | None = None

    @field_validator("image")
    @classmethod
    def _assignment(cls, value: str | None) -> str | None:
        if value:
            parse_assignment(value)
        return value or None

    @field_validator("interfaces")
    @classmethod
    def _distinct_interfaces(cls, value: list[InterfaceRecord]) -> list[InterfaceRecord]:
        macs = [item.mac for item in value]
        if len(set(macs)) != len(macs):
            raise InvalidInput("the same MAC is listed twice")
        ifnames = [item.name for item in value if item.name]
        if len(set(ifnames)) != len(ifnames):
            raise InvalidInput("the same interface name is listed twice")
        ips = [item.ip for item in value if item.ip]
        if len(set(ips)) != len(ips):
            raise InvalidInput("the same IP is listed twice")
        return value


class NetworkRecord(Record):
    name: ObjectName
    cidr: Cidr
    gateway: IpAddress | None = None
    vlan: Vlan | None = None


class ClusterRecord(Record):
    name: ObjectName
    domain: Domain
    networks: list[NetworkRecord] = Field(default_factory=list)
    settings: SecureBootSaid = Field(default_factory=dict)

    @field_validator("networks")
    @classmethod
    def _distinct_networks(cls, value: list[NetworkRecord]) -> list[NetworkRecord]:
        seen = [item.name for item in value]
        if len(set(seen)) != len(seen):
            raise InvalidInput("the same network name is listed twice")
        return value


class FileRecord(Record):
    sha256: Sha256
    name: FileName


# Debian's rules (Policy 5.6.1 and 5.6.12), with dpkg's ":arch" of a
# multiarch package allowed after a name.
PackageName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$", max_length=128)
]
PackageVersion = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+~:_-]*$", max_length=128)
]


def _utc(value: Any) -> Any:
    if hasattr(value, "utcoffset") and value.utcoffset() != timedelta(0):
        raise InvalidInput("must be in UTC (end it with Z)")
    return value


class BuildRecord(Record):
    """What an image build recorded: which recipe inputs, where and when,
    every package in the image with its version, and the size of each file
    (by its name in the version)."""

    recipe: ObjectName
    recipe_hash: Sha256
    built_at: Annotated[AwareDatetime, AfterValidator(_utc)]
    host: str = Field(min_length=1, max_length=255)
    packages: dict[PackageName, PackageVersion]
    sizes: dict[FileName, NonNegativeInt] = Field(min_length=1)


class VersionRecord(Record):
    """A version built from artifacts already uploaded to the store."""

    version: ObjectName
    kernel: FileRecord
    initrds: list[FileRecord] = Field(min_length=1)
    rootfs: FileRecord | None = None
    cmdline: str = Field(default="", max_length=4096)
    notes: str = Field(default="", max_length=65536)
    build: BuildRecord | None = None


class TokenRecord(Record):
    name: ObjectName
    role: Literal["admin", "cmdb", "reader"]


def parse_assignment(value: str) -> tuple[str, str | None, str | None]:
    """'IMAGE@CHANNEL' -> (image, channel, None); 'IMAGE=VERSION' -> (image, None, version)."""
    if "@" in value and "=" not in value:
        image, channel = value.split("@", 1)
        return names.object_name(image, "image name"), names.object_name(channel, "channel"), None
    if "=" in value and "@" not in value:
        image, version = value.split("=", 1)
        return names.object_name(image, "image name"), None, names.object_name(version, "version")
    raise InvalidInput(f"{value!r} is not IMAGE@CHANNEL or IMAGE=VERSION")


ModelT = TypeVar("ModelT", bound=BaseModel)


def describe(error: ValidationError, prefix: str = "") -> str:
    """The first problem in one line: 'interfaces.0.mac: ...'."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    where = f"{prefix}{where}" if where else prefix.rstrip(".: ")
    return f"{where}: {message}" if where else message


# Deeper than any record needs, and far from where parsers, the recursion
# limit and the databases' JSON functions give up.
MAX_DEPTH = 32


def refuse_unstorable(value: Any, where: str = "input", depth: int = 0) -> None:
    """What no database keeps, refused at the door wherever it hides: NUL
    characters (PostgreSQL refuses them in text), unpaired surrogates (JSON's
    "\\ud800" makes one; they have no UTF-8), NaN or infinite numbers (not
    JSON, though Python's JSON and YAML parsers accept them), and what YAML
    makes but JSON columns cannot hold: dates, bytes, sets, keys that are not
    strings, and structures nested past MAX_DEPTH (or into themselves)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{where}: contains a NUL character")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidInput(f"{where}: contains an unpaired UTF-16 surrogate") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where}: numbers must be finite (NaN and Infinity are not JSON)")
    elif isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise InvalidInput(f"{where}: nested more than {MAX_DEPTH} levels deep")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                if not isinstance(key, str):
                    raise InvalidInput(f"{where}: key {key!r} is not a string")
                refuse_unstorable(key, where)
            refuse_unstorable(item, where, depth + 1)
    elif value is not None and not isinstance(value, bool | int):
        hint = " (quote it to keep it as text)" if isinstance(value, date) else ""
        raise InvalidInput(f"{where}: a YAML {type(value).__name__} is not a JSON value{hint}")


def refuse_oversized(value: Any, limit: int, what: str, setting: str) -> None:
    """Facts and report details are kept whole and sent with every listing:
    bounded by a setting, measured as the compact JSON stored."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode(errors="surrogatepass"))
    if size > limit:
        raise PayloadTooLarge(
            f"{what} are {size} bytes as JSON, more than the {limit} allowed (setting {setting})"
        )


def parse(model: type[ModelT], data: Any, prefix: str = "") -> ModelT:
    if not isinstance(data, dict):
        where = prefix.rstrip(".: ") or "body"
        raise InvalidInput(f"{where}: expected an object")
    refuse_unstorable(data, prefix.rstrip(".: ") or "body")

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe(exc, prefix)) from None
