"""Engine heartbeats (``engine_beat``: which ``memoguard serve`` runs its engine on this database, and
when it last did) and the calls made for each notification whichever provider took them
(``notification.tries``).

Rows written before this revision get ``tries`` from what they kept: the failures on their last
provider, plus the call that sent or failed them for good.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_beat",
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_beat", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("instance"),
    )
    op.create_index("ix_engine_beat_last_beat", "engine_beat", ["last_beat"], unique=False)
    op.add_column("notification", sa.Column("tries", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE notification SET tries = attempts + CASE WHEN status IN ('sent', 'failed') THEN 1 ELSE 0 END")


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_column("tries")
    op.drop_index("ix_engine_beat_last_beat", table_name="engine_beat")
    op.drop_table("engine_beat")
