"""catalog, cmdb, tokens and boot reports

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bootsvc.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("name", name=op.f("uq_api_token_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "artifact",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_artifact")),
    )
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("from_value", sa.String(length=255), nullable=True),
        sa.Column("to_value", sa.String(length=255), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_subject"), ["subject"], unique=False)

    op.create_table(
        "cluster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster")),
        sa.UniqueConstraint("name", name=op.f("uq_cluster_name")),
    )
    op.create_table(
        "image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image")),
        sa.UniqueConstraint("name", name=op.f("uq_image_name")),
    )
    op.create_table(
        "cluster_network",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=True),
        sa.Column("vlan", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_cluster_network_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_network")),
        sa.UniqueConstraint("cluster_id", "name", name=op.f("uq_cluster_network_cluster_id_name")),
    )
    op.create_table(
        "image_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("cmdline", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("imported_by", sa.String(length=128), nullable=False),
        sa.Column("imported_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
            name=op.f("fk_image_version_image_id_image"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_version")),
        sa.UniqueConstraint("image_id", "version", name=op.f("uq_image_version_image_id_version")),
    )
    op.create_table(
        "channel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_channel_image_id_image"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["image_version.id"], name=op.f("fk_channel_version_id_image_version")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel")),
        sa.UniqueConstraint("image_id", "name", name=op.f("uq_channel_image_id_name")),
    )
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_version_id"), ["version_id"], unique=False)

    op.create_table(
        "node",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=63), nullable=False),
        sa.Column("serial", sa.String(length=128), nullable=True),
        sa.Column("asset_tag", sa.String(length=128), nullable=True),
        sa.Column("uuid", sa.String(length=36), nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column(
            "roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "facts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("pinned_version_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_node_cluster_id_cluster"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_node_image_id_image"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["pinned_version_id"],
            ["image_version.id"],
            name=op.f("fk_node_pinned_version_id_image_version"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node")),
        sa.UniqueConstraint("hostname", name=op.f("uq_node_hostname")),
        sa.UniqueConstraint("serial", name=op.f("uq_node_serial")),
        sa.UniqueConstraint("uuid", name=op.f("uq_node_uuid")),
    )
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_node_pinned_version_id"), ["pinned_version_id"], unique=False
        )

    op.create_table(
        "version_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"], ["artifact.sha256"], name=op.f("fk_version_file_sha256_artifact")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["image_version.id"],
            name=op.f("fk_version_file_version_id_image_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_file")),
        sa.UniqueConstraint("version_id", "name", name=op.f("uq_version_file_version_id_name")),
        sa.UniqueConstraint(
            "version_id", "role", "position", name=op.f("uq_version_file_version_id_role_position")
        ),
    )
    with op.batch_alter_table("version_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_version_file_sha256"), ["sha256"], unique=False)

    op.create_table(
        "boot_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=True),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_boot_report_node_id_node"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["image_version.id"],
            name=op.f("fk_boot_report_version_id_image_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_report")),
    )
    with op.batch_alter_table("boot_report", schema=None) as batch_op:
        batch_op.create_index("ix_boot_report_node_at", ["node_id", "at"], unique=False)

    op.create_table(
        "channel_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_version_id", sa.Integer(), nullable=True),
        sa.Column("to_version_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channel.id"],
            name=op.f("fk_channel_history_channel_id_channel"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_version_id"],
            ["image_version.id"],
            name=op.f("fk_channel_history_from_version_id_image_version"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"],
            ["image_version.id"],
            name=op.f("fk_channel_history_to_version_id_image_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_history")),
    )
    with op.batch_alter_table("channel_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_history_channel_id"), ["channel_id"], unique=False
        )

    op.create_table(
        "interface",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=15), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("vlan", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_interface_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interface")),
        sa.UniqueConstraint("ip", name=op.f("uq_interface_ip")),
        sa.UniqueConstraint("mac", name=op.f("uq_interface_mac")),
        sa.UniqueConstraint("node_id", "name", name=op.f("uq_interface_node_id_name")),
    )
    with op.batch_alter_table("interface", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interface_node_id"), ["node_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("interface", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interface_node_id"))

    op.drop_table("interface")
    with op.batch_alter_table("channel_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_history_channel_id"))

    op.drop_table("channel_history")
    with op.batch_alter_table("boot_report", schema=None) as batch_op:
        batch_op.drop_index("ix_boot_report_node_at")

    op.drop_table("boot_report")
    with op.batch_alter_table("version_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_version_file_sha256"))

    op.drop_table("version_file")
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_pinned_version_id"))
        batch_op.drop_index(batch_op.f("ix_node_cluster_id"))

    op.drop_table("node")
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_version_id"))

    op.drop_table("channel")
    op.drop_table("image_version")
    op.drop_table("cluster_network")
    op.drop_table("image")
    op.drop_table("cluster")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_subject"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_at"))

    op.drop_table("audit_entry")
    op.drop_table("artifact")
    op.drop_table("api_token")
