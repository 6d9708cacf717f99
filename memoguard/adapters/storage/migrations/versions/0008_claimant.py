"""Outbox claims signed by their dispatcher: a token per claiming process (``claimed_by`` on notifications
and on rate-limit reservations) and, on PostgreSQL, the sequence the tokens come from. A claim whose
token's session is gone is taken over at once (see adapters/storage/claim.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notification", sa.Column("claimed_by", sa.BigInteger(), nullable=True))
    op.add_column("provider_send", sa.Column("claimed_by", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # integer: a token is the second key of a (namespace, token) advisory lock, two 32-bit halves
        op.execute("CREATE SEQUENCE IF NOT EXISTS outbox_claimant AS integer")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS outbox_claimant")
    with op.batch_alter_table("provider_send") as batch_op:
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_column("claimed_by")
