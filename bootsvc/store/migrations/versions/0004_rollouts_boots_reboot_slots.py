"""rollouts, boots, reboot slots

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bootsvc.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("updated_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_image_assignment_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["image.id"],
            name=op.f("fk_image_assignment_image_id_image"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_assignment")),
        sa.UniqueConstraint("cluster_id", "role", name=op.f("uq_image_assignment_cluster_id_role")),
    )
    with op.batch_alter_table("image_assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_image_assignment_image_id"), ["image_id"], unique=False
        )

    op.create_table(
        "rollout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("to_version_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("canary", sa.Integer(), nullable=False),
        sa.Column("max_unavailable", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("health_timeout_s", sa.Integer(), nullable=False),
        sa.Column("waves", sa.Integer(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_rollout_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_rollout_image_id_image"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"],
            ["image_version.id"],
            name=op.f("fk_rollout_to_version_id_image_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout")),
    )
    with op.batch_alter_table("rollout", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rollout_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_index(
            "uq_rollout_active_cluster",
            ["cluster_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('running', 'paused', 'halted')"),
            postgresql_where=sa.text("state IN ('running', 'paused', 'halted')"),
        )

    op.create_table(
        "node_boot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("script_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("kernel_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("up_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_node_boot_node_id_node"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["image_version.id"],
            name=op.f("fk_node_boot_version_id_image_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_boot")),
    )
    with op.batch_alter_table("node_boot", schema=None) as batch_op:
        batch_op.create_index("ix_node_boot_node_id_id", ["node_id", "id"], unique=False)

    op.create_table(
        "node_seen",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_node_seen_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_node_seen")),
    )
    op.create_table(
        "reboot_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("group", sa.String(length=64), nullable=False),
        sa.Column("taken_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_reboot_slot_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_reboot_slot_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reboot_slot")),
        sa.UniqueConstraint("node_id", name=op.f("uq_reboot_slot_node_id")),
    )
    with op.batch_alter_table("reboot_slot", schema=None) as batch_op:
        batch_op.create_index("ix_reboot_slot_cluster_group", ["cluster_id", "group"], unique=False)

    op.create_table(
        "rollout_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("from_version_id", sa.Integer(), nullable=True),
        sa.Column("baseline_version_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("booting_since", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["baseline_version_id"],
            ["image_version.id"],
            name=op.f("fk_rollout_member_baseline_version_id_image_version"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["from_version_id"],
            ["image_version.id"],
            name=op.f("fk_rollout_member_from_version_id_image_version"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
            name=op.f("fk_rollout_member_node_id_node"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollout.id"],
            name=op.f("fk_rollout_member_rollout_id_rollout"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_member")),
        sa.UniqueConstraint(
            "rollout_id", "node_id", name=op.f("uq_rollout_member_rollout_id_node_id")
        ),
    )
    with op.batch_alter_table("rollout_member", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rollout_member_node_rollout", ["node_id", "rollout_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rollout_member", schema=None) as batch_op:
        batch_op.drop_index("ix_rollout_member_node_rollout")

    op.drop_table("rollout_member")
    with op.batch_alter_table("reboot_slot", schema=None) as batch_op:
        batch_op.drop_index("ix_reboot_slot_cluster_group")

    op.drop_table("reboot_slot")
    op.drop_table("node_seen")
    with op.batch_alter_table("node_boot", schema=None) as batch_op:
        batch_op.drop_index("ix_node_boot_node_id_id")

    op.drop_table("node_boot")
    with op.batch_alter_table("rollout", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_rollout_active_cluster",
            sqlite_where=sa.text("state IN ('running', 'paused', 'halted')"),
            postgresql_where=sa.text("state IN ('running', 'paused', 'halted')"),
        )
        batch_op.drop_index(batch_op.f("ix_rollout_cluster_id"))

    op.drop_table("rollout")
    with op.batch_alter_table("image_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_assignment_image_id"))

    op.drop_table("image_assignment")
