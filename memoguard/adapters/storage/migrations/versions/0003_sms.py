"""SMS both ways: who a reply code was paged to, STOP opt-outs, provider message ids for delivery
receipts, and the receipt state of each notification.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reply_code", sa.Column("person", sa.String(length=200), nullable=True))
    op.create_table(
        "sms_opt_out",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone"),
    )
    op.create_table(
        "provider_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_provider_message_id", "provider_message", ["provider", "message_id"], unique=False)
    op.add_column("notification", sa.Column("receipt", sa.String(length=20), nullable=True))
    op.add_column("notification", sa.Column("receipt_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_column("receipt_at")
        batch_op.drop_column("receipt")
    op.drop_index("ix_provider_message_id", table_name="provider_message")
    op.drop_table("provider_message")
    op.drop_table("sms_opt_out")
    with op.batch_alter_table("reply_code") as batch_op:
        batch_op.drop_column("person")
