"""The database schema. Changing it means adding an Alembic migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import uuid4

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bootsvc.store.types import JsonType, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JsonType,
    }


class Artifact(Base):
    """One blob in the content store, shared by every version that uses it."""

    __tablename__ = "artifact"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Image(Base):
    __tablename__ = "image"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    versions: Mapped[list[ImageVersion]] = relationship(
        back_populates="image", cascade="all, delete-orphan", order_by="ImageVersion.id"
    )
    channels: Mapped[list[Channel]] = relationship(
        back_populates="image", cascade="all, delete-orphan", order_by="Channel.name"
    )


class ImageVersion(Base):
    __tablename__ = "image_version"
    __table_args__ = (UniqueConstraint("image_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    cmdline: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    imported_by: Mapped[str] = mapped_column(String(128))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the build recorded (recipe hash, packages, sizes, host, time);
    # None for a version imported without one.
    build: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # Whether the kernel carries an Authenticode signature (Secure Boot nodes
    # boot only such kernels); None for a version imported before this was read.
    kernel_signed: Mapped[bool | None] = mapped_column(Boolean)
    # x86_64 or arm64, from the kernel's header; None when it was not read.
    architecture: Mapped[str | None] = mapped_column(String(16))
    image: Mapped[Image] = relationship(back_populates="versions")
    files: Mapped[list[VersionFile]] = relationship(
        back_populates="version",
        cascade="all, delete-orphan",
        order_by="(VersionFile.role, VersionFile.position)",
        lazy="selectin",
    )


class VersionFile(Base):
    """A kernel, initrd or rootfs of a version; `name` is what the node sees."""

    __tablename__ = "version_file"
    __table_args__ = (
        UniqueConstraint("version_id", "role", "position"),
        UniqueConstraint("version_id", "name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("image_version.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(ForeignKey("artifact.sha256"), index=True)
    version: Mapped[ImageVersion] = relationship(back_populates="files")
    artifact: Mapped[Artifact] = relationship(lazy="joined")


class Channel(Base):
    __tablename__ = "channel"
    __table_args__ = (UniqueConstraint("image_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(ForeignKey("image_version.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))
    image: Mapped[Image] = relationship(back_populates="channels")
    version: Mapped[ImageVersion] = relationship()


class ChannelHistory(Base):
    """Every move of a channel, newest last; rollback walks it backwards."""

    __tablename__ = "channel_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    from_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_version.id", ondelete="SET NULL")
    )
    to_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_version.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255), index=True)
    from_value: Mapped[str | None] = mapped_column(String(255))
    to_value: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


def _new_fsid() -> str:
    return str(uuid4())


class Cluster(Base):
    __tablename__ = "cluster"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    domain: Mapped[str] = mapped_column(String(253))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The Ceph cluster's fsid, made with the cluster and kept; a site that
    # adopts an existing Ceph cluster gives its own in the setting ceph.fsid.
    ceph_fsid: Mapped[str] = mapped_column(String(36), default=_new_fsid)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    networks: Mapped[list[ClusterNetwork]] = relationship(
        back_populates="cluster",
        cascade="all, delete-orphan",
        order_by="ClusterNetwork.name",
        lazy="selectin",
    )
    nodes: Mapped[list[Node]] = relationship(back_populates="cluster", order_by="Node.hostname")


class ClusterNetwork(Base):
    __tablename__ = "cluster_network"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    cidr: Mapped[str] = mapped_column(String(64))
    gateway: Mapped[str | None] = mapped_column(String(64))
    vlan: Mapped[int | None] = mapped_column(Integer)
    cluster: Mapped[Cluster] = relationship(back_populates="networks")


class Node(Base):
    __tablename__ = "node"
    __table_args__ = (UniqueConstraint("cluster_id", "corosync_nodeid"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    hostname: Mapped[str] = mapped_column(String(63), unique=True)
    serial: Mapped[str | None] = mapped_column(String(128), unique=True)
    asset_tag: Mapped[str | None] = mapped_column(String(128))
    uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("cluster.id", ondelete="RESTRICT"), index=True
    )
    roles: Mapped[list[str]] = mapped_column(JsonType, default=list)
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("image.id", ondelete="RESTRICT"))
    channel: Mapped[str | None] = mapped_column(String(64))
    pinned_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_version.id", ondelete="RESTRICT"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="new")
    # The node's corosync nodeid in its cluster: the lowest free one when it
    # joined, kept while it stays (bootsvc.core.cmdb.cmdb allocates it).
    corosync_nodeid: Mapped[int | None] = mapped_column(Integer)
    # Consent to format the node's local disks: "new" lets its first boot
    # make the state partition on a blank device, "in-use" once it has.
    disks: Mapped[str] = mapped_column(String(16), default="new", server_default="new")
    # The audit entry of a factory reset the node has not yet carried out.
    reset_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    cluster: Mapped[Cluster | None] = relationship(back_populates="nodes")
    image: Mapped[Image | None] = relationship()
    pinned_version: Mapped[ImageVersion | None] = relationship()
    # That audit entry: who asked for the reset, and when.
    reset_request: Mapped[AuditEntry | None] = relationship(
        primaryjoin="foreign(Node.reset_id) == AuditEntry.id"
    )
    interfaces: Mapped[list[Interface]] = relationship(
        back_populates="node",
        cascade="all, delete-orphan",
        order_by="Interface.name",
        lazy="selectin",
    )
    # Its TPM's endorsement key; written through NodeTpm rows (core.attestation).
    tpm: Mapped[NodeTpm | None] = relationship(viewonly=True)


class Interface(Base):
    __tablename__ = "interface"
    __table_args__ = (UniqueConstraint("node_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(15))
    mac: Mapped[str] = mapped_column(String(17), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45), unique=True)
    vlan: Mapped[int | None] = mapped_column(Integer)
    node: Mapped[Node] = relationship(back_populates="interfaces")


class ApiToken(Base):
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class BootReport(Base):
    """What a node (or its iPXE script) told us about one step of a boot."""

    __tablename__ = "boot_report"
    __table_args__ = (Index("ix_boot_report_node_at", "node_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"))
    mac: Mapped[str | None] = mapped_column(String(17))
    ip: Mapped[str | None] = mapped_column(String(45))
    stage: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_version.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ClusterSecret(Base):
    """A secret shared by a cluster's nodes (corosync authkey, Ceph keys),
    sealed by bootsvc.core.nodeconfig.vault: never stored in the clear."""

    __tablename__ = "cluster_secret"
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("cluster.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NodeSecret(Base):
    """A secret of one node (SSH host keys), sealed like ClusterSecret."""

    __tablename__ = "node_secret"
    node_id: Mapped[int] = mapped_column(
        ForeignKey("node.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecretToken(Base):
    """A one-time token minted into a node's iPXE script: it lets that node,
    from its own address, fetch its secrets once before `expires_at`. One per
    node; spent and expired ones are deleted. Only its sha256 is stored."""

    __tablename__ = "secret_token"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), index=True)
    mac: Mapped[str | None] = mapped_column(String(17))
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class BootToken(Base):
    """The credential of a node's current boot, minted into its iPXE script
    when the script went to the node's own address: its boot reports, agent
    and FleetLock requests must carry it, from `ip`. One per node; a new
    script replaces it. Only its sha256 is stored."""

    __tablename__ = "boot_token"
    node_id: Mapped[int] = mapped_column(
        ForeignKey("node.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NodeTpm(Base):
    """A node's TPM 2.0 endorsement key (public part, PEM). Secrets are
    sealed to it once `state` is "accepted"; a key first seen at boot waits
    as "pending" until an admin accepts it."""

    __tablename__ = "node_tpm"
    node_id: Mapped[int] = mapped_column(
        ForeignKey("node.id", ondelete="CASCADE"), primary_key=True
    )
    ek_public: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServedOverlay(Base):
    """The overlay a node was last served (the gzip cpio itself), for
    `bootsvc node render --diff`."""

    __tablename__ = "served_overlay"
    node_id: Mapped[int] = mapped_column(
        ForeignKey("node.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(17))
    image: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(64))
    archive: Mapped[bytes] = mapped_column(LargeBinary)
    served_at: Mapped[datetime] = mapped_column(default=utcnow)


# Rollouts: assignments above the node, rollouts and their waves,
# each boot of each node, who was heard from when, and who holds a reboot slot.

ROLLOUT_ACTIVE_STATES = ("running", "paused", "halted")
_ACTIVE_ROLLOUT = text("state IN ('running', 'paused', 'halted')")


class ImageAssignment(Base):
    """image@channel for every node of a cluster (role "") or for the nodes of
    one role in it; a node's own assignment comes first."""

    __tablename__ = "image_assignment"
    __table_args__ = (UniqueConstraint("cluster_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32), default="")
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="RESTRICT"), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))
    image: Mapped[Image] = relationship(lazy="joined")


class Rollout(Base):
    """Moving the nodes of one cluster that boot one image to a version, wave
    by wave. At most one rollout per cluster is active (running, paused or
    halted); the partial unique index makes two racing starts a conflict."""

    __tablename__ = "rollout"
    __table_args__ = (
        Index(
            "uq_rollout_active_cluster",
            "cluster_id",
            unique=True,
            sqlite_where=_ACTIVE_ROLLOUT,
            postgresql_where=_ACTIVE_ROLLOUT,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("cluster.id", ondelete="CASCADE"), index=True
    )
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"))
    to_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_version.id", ondelete="SET NULL")
    )
    # What started it: "start" (an admin), "promote" or "rollback" of `channel`.
    trigger: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(64))
    canary: Mapped[int] = mapped_column(Integer)
    max_unavailable: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    health_timeout_s: Mapped[int] = mapped_column(Integer)
    waves: Mapped[int] = mapped_column(Integer)
    wave: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    cluster: Mapped[Cluster] = relationship()
    image: Mapped[Image] = relationship()
    to_version: Mapped[ImageVersion | None] = relationship()
    members: Mapped[list[RolloutMember]] = relationship(
        back_populates="rollout",
        cascade="all, delete-orphan",
        order_by="(RolloutMember.wave, RolloutMember.id)",
    )


class RolloutMember(Base):
    """One node of a rollout. `baseline_version_id` is what the node's own
    assignment gave when the rollout began: once that changes (the admin
    reassigned or pinned the node), the rollout no longer decides for it."""

    __tablename__ = "rollout_member"
    __table_args__ = (
        UniqueConstraint("rollout_id", "node_id"),
        Index("ix_rollout_member_node_rollout", "node_id", "rollout_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("rollout.id", ondelete="CASCADE"))
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"))
    wave: Mapped[int] = mapped_column(Integer)
    from_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_version.id", ondelete="SET NULL")
    )
    baseline_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_version.id", ondelete="SET NULL")
    )
    # pending (wave not started), started, healthy, failed
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column()
    booting_since: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str] = mapped_column(Text, default="")
    rollout: Mapped[Rollout] = relationship(back_populates="members")
    node: Mapped[Node] = relationship()
    from_version: Mapped[ImageVersion | None] = relationship(foreign_keys=[from_version_id])


class NodeBoot(Base):
    """One boot of one node, opened when its script is served and closed by
    its `up` or `failed` report, or abandoned by the next script fetch; a
    boot bootsvc refused is closed as it opens."""

    __tablename__ = "node_boot"
    __table_args__ = (Index("ix_node_boot_node_id_id", "node_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"))
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("image_version.id", ondelete="SET NULL")
    )
    mac: Mapped[str | None] = mapped_column(String(17))
    ip: Mapped[str | None] = mapped_column(String(45))
    # booting, up, unhealthy, failed, abandoned, refused
    outcome: Mapped[str] = mapped_column(String(16))
    script_at: Mapped[datetime | None] = mapped_column()
    kernel_at: Mapped[datetime | None] = mapped_column()
    up_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class NodeSeen(Base):
    """When a node last said anything (a boot report or its agent's poll)."""

    __tablename__ = "node_seen"
    node_id: Mapped[int] = mapped_column(
        ForeignKey("node.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    via: Mapped[str] = mapped_column(String(16))


class EnlistmentCount(Base):
    """Machines enlistment turned away (kind `cap` or `rate`) or `new` nodes
    it removed (`expired`): how many, and the last one, across all servers."""

    __tablename__ = "enlistment_count"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column()
    last_mac: Mapped[str | None] = mapped_column(String(17))
    last_ip: Mapped[str | None] = mapped_column(String(45))


class RebootSlot(Base):
    """A FleetLock semaphore slot held by a node: one semaphore per cluster and
    reboot group (cluster None: nodes outside any cluster)."""

    __tablename__ = "reboot_slot"
    __table_args__ = (Index("ix_reboot_slot_cluster_group", "cluster_id", "group"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), unique=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"))
    group: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    node: Mapped[Node] = relationship()


class DhcpLease(Base):
    """An address of a DHCP pool and the MAC that holds it until `expires`.

    The address is the primary key, so there is one row per address, and a
    lease is taken with a conditional upsert that only succeeds when the row
    is new, already this MAC's, or expired (bootsvc.core.dhcp.leases): that
    is what keeps two MACs, or two servers, from holding one address.
    """

    __tablename__ = "dhcp_lease"
    ip: Mapped[str] = mapped_column(String(15), primary_key=True)
    mac: Mapped[str] = mapped_column(String(17), index=True)
    subnet: Mapped[str] = mapped_column(String(18))
    # bound, released or declined (an offer lives only in its server's memory).
    state: Mapped[str] = mapped_column(String(16))
    # Seconds since the epoch (UTC): every DHCP message compares them, and
    # plain numbers cost a fraction of what datetimes do per row.
    expires: Mapped[float] = mapped_column(Float, index=True)
    updated: Mapped[float] = mapped_column(Float, index=True)
    hostname: Mapped[str | None] = mapped_column(String(63))
    # The DHCP server process that wrote the row last (host/pid): servers
    # sharing the database read each other's changes, not their own.
    server: Mapped[str] = mapped_column(String(64), default="")


class Dhcp6Lease(Base):
    """An address of a DHCPv6 range and the client (DUID and IAID of its
    IA_NA) that holds it until `expires`: one row per address, taken with a
    conditional upsert as for IPv4 (bootsvc.core.dhcp6.leases)."""

    __tablename__ = "dhcp6_lease"
    address: Mapped[str] = mapped_column(String(39), primary_key=True)
    # The client's DUID in hex: a DHCPv6 client is known by it, not its MAC.
    duid: Mapped[str] = mapped_column(String(260), index=True)
    iaid: Mapped[int] = mapped_column(BigInteger)
    # The MAC a DUID-LL or DUID-LLT carries, for the CMDB and the admin.
    mac: Mapped[str | None] = mapped_column(String(17))
    subnet: Mapped[str] = mapped_column(String(43))
    state: Mapped[str] = mapped_column(String(16))
    expires: Mapped[float] = mapped_column(Float, index=True)
    updated: Mapped[float] = mapped_column(Float, index=True)
    hostname: Mapped[str | None] = mapped_column(String(63))
    server: Mapped[str] = mapped_column(String(64), default="")


class BootServer(Base):
    """A bootsvc server on this database: where peers reach it, when it was
    last alive, and the artifacts its store holds (peers fetch from it)."""

    __tablename__ = "boot_server"
    url: Mapped[str] = mapped_column(String(255), primary_key=True)
    heartbeat_at: Mapped[datetime] = mapped_column()
    held: Mapped[list[str]] = mapped_column(JsonType)
