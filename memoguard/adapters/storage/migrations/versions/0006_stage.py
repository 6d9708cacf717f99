"""The stage of each page: the incident version the decision that paged it ended at, so a page of a
stage that is over is dropped unsent and its failure changes nothing (see memoguard/domain/stage.py).
Rows written before have none: they are judged by their step and cycle alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notification", sa.Column("stage_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch_op:
        batch_op.drop_column("stage_version")
