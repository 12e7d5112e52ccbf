"""per-node configuration: corosync nodeids, Ceph fsids, sealed secrets,
one-time secret tokens and the overlays last served

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

import bootsvc.store.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _give_existing_clusters_an_identity() -> None:
    """Clusters made before this revision get an fsid, and their members
    nodeids 1, 2, ... by hostname: allocated once here, kept from then on."""
    connection = op.get_bind()
    clusters = connection.execute(sa.text("SELECT id FROM cluster ORDER BY id")).scalars().all()
    for cluster_id in clusters:
        connection.execute(
            sa.text("UPDATE cluster SET ceph_fsid = :fsid WHERE id = :id"),
            {"fsid": str(uuid.uuid4()), "id": cluster_id},
        )
        members = connection.execute(
            sa.text("SELECT id FROM node WHERE cluster_id = :id ORDER BY hostname"),
            {"id": cluster_id},
        ).scalars()
        for nodeid, node_id in enumerate(members, start=1):
            connection.execute(
                sa.text("UPDATE node SET corosync_nodeid = :nodeid WHERE id = :id"),
                {"nodeid": nodeid, "id": node_id},
            )


def upgrade() -> None:
    op.create_table(
        "cluster_secret",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_cluster_secret_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", "name", name=op.f("pk_cluster_secret")),
    )
    op.create_table(
        "node_secret",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_node_secret_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("node_id", "name", name=op.f("pk_node_secret")),
    )
    op.create_table(
        "secret_token",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_secret_token_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_secret_token")),
    )
    with op.batch_alter_table("secret_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_token_node_id"), ["node_id"], unique=False)

    op.create_table(
        "served_overlay",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("image", sa.String(length=64), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.Column("served_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["node.id"],
            name=op.f("fk_served_overlay_node_id_node"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_served_overlay")),
    )
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ceph_fsid", sa.String(length=36), nullable=True))
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.add_column(sa.Column("corosync_nodeid", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_node_cluster_id_corosync_nodeid"), ["cluster_id", "corosync_nodeid"]
        )
    _give_existing_clusters_an_identity()
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.alter_column("ceph_fsid", existing_type=sa.String(length=36), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_node_cluster_id_corosync_nodeid"), type_="unique")
        batch_op.drop_column("corosync_nodeid")
    with op.batch_alter_table("cluster", schema=None) as batch_op:
        batch_op.drop_column("ceph_fsid")
    op.drop_table("served_overlay")
    with op.batch_alter_table("secret_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_token_node_id"))
    op.drop_table("secret_token")
    op.drop_table("node_secret")
    op.drop_table("cluster_secret")
