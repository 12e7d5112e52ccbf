"""boot servers sharing the database: URL, heartbeat, artifacts held

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bootsvc.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "boot_server",
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("heartbeat_at", bootsvc.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "held",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_boot_server")),
    )


def downgrade() -> None:
    op.drop_table("boot_server")
