"""enlistment counts: machines refused at the cap or rate, new nodes expired

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bootsvc.store.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enlistment_count",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_mac", sa.String(length=17), nullable=True),
        sa.Column("last_ip", sa.String(length=45), nullable=True),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_enlistment_count")),
    )


def downgrade() -> None:
    op.drop_table("enlistment_count")
