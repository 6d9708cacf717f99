"""The parts of a long inbound SMS, kept in the database until the whole text is taken: a restart
between two parts no longer loses the first ones.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_part",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data_coding", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sms_part_key", "sms_part", ["provider", "sender", "reference", "total", "seq"], unique=True)
    op.create_index("ix_sms_part_received_at", "sms_part", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sms_part_received_at", table_name="sms_part")
    op.drop_index("ix_sms_part_key", table_name="sms_part")
    op.drop_table("sms_part")
