"""What users and integrations send: validated, normalised input records.

The API, the CLI and the bulk importers all parse through these models, so a
bad MAC is refused with the same message wherever it comes from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from bootsvc.core import names
from bootsvc.errors import InvalidInput

NODE_STATES = ("new", "active", "disabled")
TOKEN_ROLES = ("admin", "cmdb", "reader")

Mac = Annotated[str, AfterValidator(names.mac)]
IpAddress = Annotated[str, AfterValidator(names.ip)]
Cidr = Annotated[str, AfterValidator(names.cidr)]
Hostname = Annotated[str, AfterValidator(names.hostname)]
Domain = Annotated[str, AfterValidator(names.domain)]
ObjectName = Annotated[str, AfterValidator(names.object_name)]
FileName = Annotated[str, AfterValidator(names.file_name)]
InterfaceName = Annotated[str, AfterValidator(names.interface_name)]
Sha256 = Annotated[str, AfterValidator(names.sha256)]
SmbiosUuid = Annotated[str, AfterValidator(names.smbios_uuid)]
Vlan = Annotated[int, AfterValidator(names.vlan)]


def _split_roles(value: Any) -> Any:
    if isinstance(value, str):
        return [part for part in value.replace(";", ",").split(",") if part.strip()]
    return value


def _sorted_unique_roles(value: list[str]) -> list[str]:
    return sorted({names.role(item) for item in value})


Roles = Annotated[list[str], BeforeValidator(_split_roles), AfterValidator(_sorted_unique_roles)]


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
    facts: dict[str, Any] = Field(default_factory=dict)
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
    settings: dict[str, Any] = Field(default_factory=dict)

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


class VersionRecord(Record):
    """A version built from artifacts already uploaded to the store."""

    version: ObjectName
    kernel: FileRecord
    initrds: list[FileRecord] = Field(min_length=1)
    rootfs: FileRecord | None = None
    cmdline: str = Field(default="", max_length=4096)
    notes: str = Field(default="", max_length=65536)


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


def parse(model: type[ModelT], data: Any, prefix: str = "") -> ModelT:
    if not isinstance(data, dict):
        where = prefix.rstrip(".: ") or "body"
        raise InvalidInput(f"{where}: expected an object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe(exc, prefix)) from None
