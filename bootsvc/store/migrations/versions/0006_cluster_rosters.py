"""cluster documents carry the cluster's roster

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

_TEXTS = ("cluster", "networks", "nodes", "interfaces")


def _create(with_roster: bool) -> None:
    """The table is a cache: it is made again, empty, rather than altered
    (SQLite adds a NOT NULL column only with a default)."""
    columns = [sa.Column(name, sa.Text(), nullable=False) for name in _TEXTS]
    if with_roster:
        columns.append(sa.Column("roster", sa.Text(), nullable=False))
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
    op.drop_table("cluster_document")
    _create(with_roster=True)


def downgrade() -> None:
    op.drop_table("cluster_document")
    _create(with_roster=False)
