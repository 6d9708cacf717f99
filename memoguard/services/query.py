"""Reading incidents for the API and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memoguard.domain.incident import IncidentState
from memoguard.services.error import NotFound
from memoguard.services.store import Store
from memoguard.services.view import incident_detail, incident_summary


class Incidents:
    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, states: Sequence[IncidentState] = (), limit: int = 100) -> list[dict[str, Any]]:
        with self._store.read() as unit:
            return [incident_summary(row) for row in unit.incidents(states, limit)]

    def show(self, incident_id: str) -> dict[str, Any]:
        with self._store.read() as unit:
            row = unit.incident_row(incident_id)
            if row is None:
                raise NotFound(f"no incident {incident_id!r}")
            return incident_detail(
                row, unit.timeline(incident_id), unit.notifications(incident_id), unit.timers(incident_id)
            )
