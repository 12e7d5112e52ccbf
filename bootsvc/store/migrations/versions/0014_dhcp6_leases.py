"""dhcp6 leases

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dhcp6_lease",
        sa.Column("address", sa.String(length=39), nullable=False),
        sa.Column("duid", sa.String(length=260), nullable=False),
        sa.Column("iaid", sa.BigInteger(), nullable=False),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("subnet", sa.String(length=43), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("hostname", sa.String(length=63), nullable=True),
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_dhcp6_lease")),
    )
    with op.batch_alter_table("dhcp6_lease", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dhcp6_lease_duid"), ["duid"], unique=False)
        batch_op.create_index(batch_op.f("ix_dhcp6_lease_expires"), ["expires"], unique=False)
        batch_op.create_index(batch_op.f("ix_dhcp6_lease_updated"), ["updated"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dhcp6_lease", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dhcp6_lease_updated"))
        batch_op.drop_index(batch_op.f("ix_dhcp6_lease_expires"))
        batch_op.drop_index(batch_op.f("ix_dhcp6_lease_duid"))

    op.drop_table("dhcp6_lease")
