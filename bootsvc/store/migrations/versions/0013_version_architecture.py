"""versions record the machine architecture of their kernel

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("architecture", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("image_version", schema=None) as batch_op:
        batch_op.drop_column("architecture")
