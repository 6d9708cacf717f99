"""Delivery: per-provider rate limits and health, failover within a channel, incident events for
helpdesks and webhooks (with batch jobs), and storm bundles.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
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
        "provider_state",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "provider_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_provider_send_window", "provider_send", ["provider", "at"], unique=False)
    op.create_table(
        "bundle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bundle_person_code", "bundle", ["person", "code"], unique=False)
    op.add_column("notification", sa.Column("provider_index", sa.Integer(), server_default="0", nullable=False))
    op.add_column("notification", sa.Column("tried_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notification", sa.Column("payload", sa.Text(), nullable=True))
    op.add_column("notification", sa.Column("job", sa.String(length=200), nullable=True))
    op.add_column("notification", sa.Column("reference", sa.String(length=200), nullable=True))
    op.add_column("notification", sa.Column("bundle_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        for column in ("bundle_id", "reference", "job", "payload", "tried_since", "provider_index"):
            batch_op.drop_column(column)
    op.drop_index("ix_bundle_person_code", table_name="bundle")
    op.drop_table("bundle")
    op.drop_index("ix_provider_send_window", table_name="provider_send")
    op.drop_table("provider_send")
    op.drop_table("provider_state")
