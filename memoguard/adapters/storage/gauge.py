"""The gauges half of ``SqlUnit``: what /metrics reads from the database at each scrape (issue 19).

Both statements reach only live rows through an index whose first column bounds them: open incidents by
``ix_incident_state_id`` (state, id), unsent notifications by ``ix_notification_queue`` (status first).
Closed incidents and sent pages, however many, are never read (tests/integration/test_startup.py holds
every recurring statement to this).
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.table import IncidentTable, NotificationTable
from memoguard.services.record import NotificationStatus, OutboxRows

incident_t = IncidentTable.__table__  # type: ignore[attr-defined]
notification_t = NotificationTable.__table__  # type: ignore[attr-defined]

OPEN = ("triggered", "acknowledged", "confirmed")
UNSENT = tuple(s.value for s in (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SUBMITTED))


class SqlGauges:
    _c: Batch

    def open_incident_counts(self) -> dict[str, int]:
        i = incident_t.c
        query = select(i.state, func.count()).where(i.state.in_(OPEN)).group_by(i.state)
        return {str(state): int(count) for state, count in self._c.execute(query)}

    def outbox_depth(self) -> list[OutboxRows]:
        n = notification_t.c
        query = (
            select(n.channels, n.channel_index, n.provider_index, n.purpose, func.count(), func.min(n.created_at))
            .where(n.status.in_(UNSENT))
            .group_by(n.channels, n.channel_index, n.provider_index, n.purpose)
        )
        found = []
        for channels, channel_index, provider_index, purpose, count, oldest in self._c.execute(query):
            names = json.loads(channels)
            channel = names[min(channel_index, len(names) - 1)]
            found.append(OutboxRows(channel, int(provider_index), str(purpose), int(count), oldest))
        return found
