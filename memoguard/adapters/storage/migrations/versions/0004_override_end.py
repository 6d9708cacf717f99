"""Overrides by roster and end: a decision reads only the overrides of its incident's rosters in force
at that moment (not ended, then started), so their number over the years does not slow paging down.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_override_roster_end", "override", ["roster", "end_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_override_roster_end", table_name="override")
