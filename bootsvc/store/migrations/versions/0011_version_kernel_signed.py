"""versions record whether their kernel carries an Authenticode signature

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kernel_signed", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("image_version", schema=None) as batch_op:
        batch_op.drop_column("kernel_signed")
