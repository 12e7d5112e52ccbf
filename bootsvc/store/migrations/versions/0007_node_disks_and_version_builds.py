"""nodes keep their disks' consent and a pending reset; versions keep their build record

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disks", sa.String(length=16), server_default="new", nullable=False)
        )
        batch_op.add_column(sa.Column("reset_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("image_version", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "build",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("image_version", schema=None) as batch_op:
        batch_op.drop_column("build")
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_column("reset_id")
        batch_op.drop_column("disks")
