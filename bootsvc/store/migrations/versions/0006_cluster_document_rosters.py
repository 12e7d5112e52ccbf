"""cluster documents carry the roster, the digest, and the members compressed

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _create(columns: list[sa.Column[object]]) -> None:
    op.create_table(
        "cluster_document",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["cluster.id"],
            name=op.f("fk_cluster_document_cluster_id_cluster"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", name=op.f("pk_cluster_document")),
    )


def upgrade() -> None:
    """The table is a cache: it is made again, empty, rather than altered
    (SQLite adds a NOT NULL column only with a default)."""
    op.drop_table("cluster_document")
    _create(
        [
            sa.Column("cluster", sa.Text(), nullable=False),
            sa.Column("networks", sa.Text(), nullable=False),
            sa.Column("roster", sa.Text(), nullable=False),
            sa.Column("digest", sa.String(length=64), nullable=False),
            sa.Column("members", sa.LargeBinary(), nullable=False),
        ]
    )


def downgrade() -> None:
    op.drop_table("cluster_document")
    _create(
        [
            sa.Column(name, sa.Text(), nullable=False)
            for name in ("cluster", "networks", "nodes", "interfaces")
        ]
    )
