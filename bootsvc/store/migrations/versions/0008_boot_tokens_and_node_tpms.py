"""boot tokens bind reports to a node's boot; nodes may register a TPM;
spent secret tokens are deleted, not marked

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bootsvc.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM secret_token WHERE used_at IS NOT NULL")
    with op.batch_alter_table("secret_token", schema=None) as batch_op:
        batch_op.drop_column("used_at")
    op.create_table(
        "boot_token",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("created_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_boot_token_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_boot_token")),
        sa.UniqueConstraint("digest", name=op.f("uq_boot_token_digest")),
    )
    op.create_table(
        "node_tpm",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("ek_public", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_node_tpm_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_node_tpm")),
    )


def downgrade() -> None:
    with op.batch_alter_table("secret_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("used_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.drop_table("node_tpm")
    op.drop_table("boot_token")
