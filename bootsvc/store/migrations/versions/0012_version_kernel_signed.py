"""versions record whether their kernel carries an Authenticode signature

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kernel_signed", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("image_version", schema=None) as batch_op:
        batch_op.drop_column("kernel_signed")
