"""Indexes that keep start-up, readiness and the engine's loops independent of closed history (issue 14).

A service restarted after months of incidents must not read them all: the storm window of a person's
pages (``ix_notification_person_sent``), a bundle's pages (``ix_notification_bundle``), a person's
bundles within the code reuse window (``ix_bundle_person_created``), and the reply
codes a number holds (``ix_reply_code_phone_expiry``, ``ix_reply_code_phone_incident``, bounded by the
oldest live incident: ``ix_incident_state_id``, ``ix_incident_resolved_at``). ``ix_incident_state_id``
(state, id) replaces ``ix_incident_state``. docs/architecture.md lists which recurring query each index
serves.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_notification_person_sent", "notification", ["person", "status", "sent_at"]),
    ("ix_notification_bundle", "notification", ["bundle_id"]),
    ("ix_bundle_person_created", "bundle", ["person", "created_at"]),
    ("ix_reply_code_phone_expiry", "reply_code", ["phone", "expires_at"]),
    ("ix_reply_code_phone_incident", "reply_code", ["phone", "incident_id"]),
    ("ix_incident_state_id", "incident", ["state", "id"]),
    ("ix_incident_resolved_at", "incident", ["resolved_at"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    # (state, id) serves every search by state: the index on state alone only cost each incident update.
    op.drop_index("ix_incident_state", table_name="incident")


def downgrade() -> None:
    op.create_index("ix_incident_state", "incident", ["state"], unique=False)
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
