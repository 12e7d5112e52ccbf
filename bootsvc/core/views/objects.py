"""What bootsvc shows: one JSON shape per object, shared by the API (and its
OpenAPI document) and the CLI's --json output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from bootsvc.core.attestation import credential
from bootsvc.core.catalog.catalog import ChannelMove
from bootsvc.store.models import (
    ApiToken,
    AuditEntry,
    Channel,
    Cluster,
    Image,
    ImageVersion,
    Node,
    NodeTpm,
)


class FileView(BaseModel):
    role: str
    name: str
    sha256: str
    size: int


class BuildView(BaseModel):
    """What the image build recorded (see records.BuildRecord)."""

    recipe: str
    recipe_hash: str
    built_at: datetime
    host: str
    packages: dict[str, str]
    sizes: dict[str, int]


class VersionView(BaseModel):
    image: str
    version: str
    cmdline: str
    notes: str
    imported_by: str
    imported_at: datetime
    size: int
    files: list[FileView]
    build: BuildView | None = None
    # Whether the kernel carries an Authenticode signature; None: not read.
    kernel_signed: bool | None = None
    # The machine architecture of the kernel (x86_64, arm64); None: not read.
    architecture: str | None = None


class ChannelView(BaseModel):
    name: str
    version: str
    updated_at: datetime
    updated_by: str


class ChannelMoveView(BaseModel):
    channel: ChannelView
    changed: bool
    previous: str | None
    # The rollouts the move started, one per cluster following the channel.
    rollouts: list[int] = []


class ImageView(BaseModel):
    name: str
    description: str
    created_at: datetime
    versions: list[str]
    channels: list[ChannelView]


class InterfaceView(BaseModel):
    name: str
    mac: str
    ip: str | None
    vlan: int | None


class ResetView(BaseModel):
    """A factory reset asked for and not yet carried out."""

    id: int
    requested_by: str | None
    requested_at: datetime | None


class TpmView(BaseModel):
    """The node's TPM endorsement key: "pending" until an admin accepts it."""

    state: str
    ek_sha256: str
    updated_at: datetime


class NodeView(BaseModel):
    hostname: str
    state: str
    interfaces: list[InterfaceView]
    serial: str | None
    asset_tag: str | None
    uuid: str | None
    cluster: str | None
    corosync_nodeid: int | None
    roles: list[str]
    facts: dict[str, Any]
    image: str | None
    # "new": its next boot may make its state partition; "in-use": it has one.
    disks: str
    reset: ResetView | None
    tpm: TpmView | None
    created_at: datetime
    updated_at: datetime


class NetworkView(BaseModel):
    name: str
    cidr: str
    gateway: str | None
    vlan: int | None


class ClusterView(BaseModel):
    name: str
    domain: str
    networks: list[NetworkView]
    settings: dict[str, Any]
    members: list[str]
    created_at: datetime
    updated_at: datetime


class TokenView(BaseModel):
    name: str
    role: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class AuditView(BaseModel):
    at: datetime
    actor: str
    action: str
    subject: str
    from_value: str | None
    to_value: str | None
    details: dict[str, Any]


class BootReportView(BaseModel):
    at: datetime
    node: str | None
    mac: str | None
    ip: str | None
    stage: str
    image: str | None
    version: str | None
    details: dict[str, Any]


def version_view(version: ImageVersion) -> VersionView:
    files = [
        FileView(role=f.role, name=f.name, sha256=f.sha256, size=f.artifact.size)
        for f in version.files
    ]
    return VersionView(
        image=version.image.name,
        version=version.version,
        cmdline=version.cmdline,
        notes=version.notes,
        imported_by=version.imported_by,
        imported_at=version.imported_at,
        size=sum(f.size for f in files),
        files=files,
        build=BuildView.model_validate(version.build) if version.build else None,
        kernel_signed=version.kernel_signed,
        architecture=version.architecture,
    )


def channel_view(channel: Channel) -> ChannelView:
    return ChannelView(
        name=channel.name,
        version=channel.version.version,
        updated_at=channel.updated_at,
        updated_by=channel.updated_by,
    )


def channel_move_view(move: ChannelMove) -> ChannelMoveView:
    return ChannelMoveView(
        channel=channel_view(move.channel),
        changed=move.changed,
        previous=move.previous.version if move.previous else None,
    )


def image_view(image: Image) -> ImageView:
    return ImageView(
        name=image.name,
        description=image.description,
        created_at=image.created_at,
        versions=[v.version for v in image.versions],
        channels=[channel_view(c) for c in image.channels],
    )


def assignment_text(node: Node) -> str | None:
    if node.pinned_version is not None:
        return f"{node.pinned_version.image.name}={node.pinned_version.version}"
    if node.image is not None and node.channel:
        return f"{node.image.name}@{node.channel}"
    return None


def node_view(node: Node) -> NodeView:
    return NodeView(
        hostname=node.hostname,
        state=node.state,
        interfaces=[
            InterfaceView(name=i.name, mac=i.mac, ip=i.ip, vlan=i.vlan)
            for i in sorted(node.interfaces, key=lambda i: i.name)
        ],
        serial=node.serial,
        asset_tag=node.asset_tag,
        uuid=node.uuid,
        cluster=node.cluster.name if node.cluster else None,
        corosync_nodeid=node.corosync_nodeid,
        roles=list(node.roles),
        facts=dict(node.facts),
        image=assignment_text(node),
        disks=node.disks,
        reset=reset_view(node),
        tpm=tpm_view(node.tpm),
        created_at=node.created_at,
        updated_at=node.updated_at,
    )


def tpm_view(tpm: NodeTpm | None) -> TpmView | None:
    if tpm is None:
        return None
    return TpmView(
        state=tpm.state,
        ek_sha256=credential.fingerprint(credential.load_ek(tpm.ek_public)),
        updated_at=tpm.updated_at,
    )


def reset_view(node: Node) -> ResetView | None:
    if node.reset_id is None:
        return None
    entry = node.reset_request
    return ResetView(
        id=node.reset_id,
        requested_by=entry.actor if entry else None,
        requested_at=entry.at if entry else None,
    )


def cluster_view(cluster: Cluster) -> ClusterView:
    return ClusterView(
        name=cluster.name,
        domain=cluster.domain,
        networks=[
            NetworkView(name=n.name, cidr=n.cidr, gateway=n.gateway, vlan=n.vlan)
            for n in cluster.networks
        ],
        settings=dict(cluster.settings),
        members=sorted(node.hostname for node in cluster.nodes),
        created_at=cluster.created_at,
        updated_at=cluster.updated_at,
    )


def token_view(token: ApiToken) -> TokenView:
    return TokenView(
        name=token.name,
        role=token.role,
        created_by=token.created_by,
        created_at=token.created_at,
        revoked_at=token.revoked_at,
    )


def audit_view(entry: AuditEntry) -> AuditView:
    return AuditView(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        subject=entry.subject,
        from_value=entry.from_value,
        to_value=entry.to_value,
        details=dict(entry.details),
    )
