"""dhcp leases

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dhcp_lease",
        sa.Column("ip", sa.String(length=15), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=False),
        sa.Column("subnet", sa.String(length=18), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("hostname", sa.String(length=63), nullable=True),
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("ip", name=op.f("pk_dhcp_lease")),
    )
    with op.batch_alter_table("dhcp_lease", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dhcp_lease_expires"), ["expires"], unique=False)
        batch_op.create_index(batch_op.f("ix_dhcp_lease_mac"), ["mac"], unique=False)
        batch_op.create_index(batch_op.f("ix_dhcp_lease_updated"), ["updated"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dhcp_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dhcp_lease_updated"))
        batch_op.drop_index(batch_op.f("ix_dhcp_lease_mac"))
        batch_op.drop_index(batch_op.f("ix_dhcp_lease_expires"))

    op.drop_table("dhcp_lease")
