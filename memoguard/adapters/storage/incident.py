"""The alarms, incidents and timeline half of ``SqlUnit``.

On PostgreSQL a writing unit locks incidents with ``FOR UPDATE`` before a decision, in id order, so
several instances can share one database; SQLite has a single writer (``BEGIN IMMEDIATE``). The
policy/roster copy of an incident is decoded once per distinct text (``SnapshotCache``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from memoguard.adapters.storage import snapshot
from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.table import AlarmTable, IncidentTable, TimelineTable
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.policy import Policy
from memoguard.domain.roster import Roster
from memoguard.services.record import AlarmRecord, IncidentRow, NewIncident, OpenIncident, StoredAlarm, TimelineEntry
from memoguard.services.store import OpenIncidentExists

log = logging.getLogger(__name__)

MAX_ID = 2**31 - 1  # ids are INTEGER columns (32 bits on PostgreSQL)

incident_t = IncidentTable.__table__  # type: ignore[attr-defined]
alarm_t = AlarmTable.__table__  # type: ignore[attr-defined]
timeline_t = TimelineTable.__table__  # type: ignore[attr-defined]

# Statements of the alarm path, built once: building a statement and its cache key costs about as much as
# running it on SQLite (profile of bench/ingest.py), and these run for every alarm.
# The ids come back in the order of the rows given, however the driver splits them into statements.
_ADD_ALARMS = insert(alarm_t).returning(alarm_t.c.id, sort_by_parameter_order=True)
# Per source: SQLite does not search an index for a tuple IN, it scans the table.
_OPEN_INCIDENTS = (
    select(incident_t)
    .where(
        incident_t.c.source == bindparam("source"),
        incident_t.c.dedup_key.in_(bindparam("keys", expanding=True)),
        incident_t.c.state != IncidentState.RESOLVED.value,
    )
    .order_by(incident_t.c.id)  # PostgreSQL locks rows in this order: two units never wait on each other in a ring
)
_OPEN_INCIDENTS_LOCKED = _OPEN_INCIDENTS.with_for_update()
_INCIDENT = select(incident_t).where(incident_t.c.id == bindparam("id"))
_INCIDENT_LOCKED = _INCIDENT.with_for_update()
_INCIDENTS = select(incident_t).where(incident_t.c.id.in_(bindparam("ids", expanding=True))).order_by(incident_t.c.id)
_INCIDENTS_LOCKED = _INCIDENTS.with_for_update()
_CREATE_INCIDENT = insert(incident_t).returning(incident_t.c.id)
_ADD_ENTRY = insert(timeline_t)
_SAVE_INCIDENT = update(incident_t).where(incident_t.c.id == bindparam("key"))


def _names(values: Sequence[str] | frozenset[str]) -> str:
    return json.dumps(sorted(values) if isinstance(values, frozenset) else list(values))


class SqlIncidents:
    _c: Batch
    _postgres: bool
    _writing: bool
    _snapshots: SnapshotCache

    # --- alarms and incidents

    def add_alarms(self, alarms: Sequence[StoredAlarm], received_at: datetime) -> list[int]:
        if not alarms:
            return []
        rows = [
            {
                "source": alarm.source,
                "dedup_key": alarm.dedup_key,
                "status": alarm.status.value,
                "severity": alarm.severity,
                "summary": alarm.summary,
                "details": alarm.details,
                "labels": json.dumps(dict(alarm.labels), sort_keys=True) if alarm.labels else "{}",
                "outcome": outcome,
                "received_at": received_at,
                "incident_id": None if incident is None else int(incident),
            }
            for alarm, incident, outcome in alarms
        ]
        return [int(row_id) for row_id in self._c.execute(_ADD_ALARMS, rows).scalars()]

    def open_incidents(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], OpenIncident]:
        # Locked on PostgreSQL: waits for a concurrent resolve to commit, then re-checks the state, so a
        # just-resolved incident is not joined (READ COMMITTED re-evaluates the WHERE clause on the locked row).
        query = _OPEN_INCIDENTS_LOCKED if self._postgres and self._writing else _OPEN_INCIDENTS
        by_source: dict[str, set[str]] = {}
        for source, dedup_key in keys:
            by_source.setdefault(source, set()).add(dedup_key)
        found: dict[tuple[str, str], OpenIncident] = {}
        for source, dedup_keys in sorted(by_source.items()):
            for r in self._c.execute(query, {"source": source, "keys": sorted(dedup_keys)}):
                found[(r.source, r.dedup_key)] = OpenIncident(self._to_incident(r), r.resolve_by_source)
        return found

    def create_incident(self, draft: NewIncident) -> str:
        empty = json.dumps([])
        values = {
            "source": draft.source,
            "dedup_key": draft.dedup_key,
            "summary": draft.summary,
            "severity": draft.severity,
            "policy": draft.policy.name,
            "snapshot": snapshot.dump(draft.policy, draft.rosters),
            "resolve_by_source": draft.resolve_by_source,
            "state": IncidentState.TRIGGERED.value,
            "version": 0,
            "cycle": 0,
            "step": -1,
            "crisis": False,
            "paged": empty,
            "stage_paged": empty,
            "undeliverable": empty,
            "acked_by": empty,
            "confirmed_by": empty,
            "opened_at": draft.opened_at,
            "updated_at": draft.opened_at,
            "resolved_at": None,
        }
        try:
            if not self._postgres:  # a failed statement leaves SQLite's transaction usable, not PostgreSQL's
                return str(self._c.execute(_CREATE_INCIDENT, values).scalar_one())
            with self._c.savepoint():
                return str(self._c.execute(_CREATE_INCIDENT, values).scalar_one())
        except IntegrityError:
            raise OpenIncidentExists(f"{draft.source}/{draft.dedup_key}") from None

    def _incident_id(self, incident_id: str) -> int | None:
        # Plain ASCII digits within the INTEGER column: int() would also take " 1", "1_0" or "١", and an id
        # beyond the column makes the driver raise (a 500 for /incidents/99999999999999999999).
        if not (incident_id.isascii() and incident_id.isdigit()) or int(incident_id) > MAX_ID:
            return None
        return int(incident_id)

    def incident(self, incident_id: str) -> Incident | None:
        key = self._incident_id(incident_id)
        if key is None:
            return None
        query = _INCIDENT_LOCKED if self._postgres and self._writing else _INCIDENT
        row = self._c.execute(query, {"id": key}).one_or_none()
        return None if row is None else self._to_incident(row)

    def incidents_by_id(self, incident_ids: Sequence[str]) -> dict[str, Incident]:
        keys = sorted({key for key in map(self._incident_id, incident_ids) if key is not None})
        if not keys:
            return {}
        query = _INCIDENTS_LOCKED if self._postgres and self._writing else _INCIDENTS
        return {str(row.id): self._to_incident(row) for row in self._c.execute(query, {"ids": keys})}

    def _to_incident(self, row: Row[Any]) -> Incident:
        policy, rosters = self._snapshots.get(row.snapshot)
        return Incident(
            id=str(row.id),
            summary=row.summary,
            policy=policy,
            rosters=rosters,
            opened_at=row.opened_at,
            severity=row.severity,
            state=IncidentState(row.state),
            version=row.version,
            cycle=row.cycle,
            step=row.step,
            crisis=row.crisis,
            paged=frozenset(json.loads(row.paged)),
            stage_paged=tuple(json.loads(row.stage_paged)),
            undeliverable=frozenset(json.loads(row.undeliverable)),
            acked_by=tuple(json.loads(row.acked_by)),
            confirmed_by=tuple(json.loads(row.confirmed_by)),
        )

    def _to_row(self, row: Row[Any], alarms: int) -> IncidentRow:
        return IncidentRow(
            incident=self._to_incident(row),
            source=row.source,
            dedup_key=row.dedup_key,
            resolve_by_source=row.resolve_by_source,
            updated_at=row.updated_at,
            resolved_at=row.resolved_at,
            alarms=alarms,
        )

    def _alarm_counts(self, ids: list[int]) -> dict[int, int]:
        if not ids:
            return {}
        query = (
            select(alarm_t.c.incident_id, func.count())
            .where(alarm_t.c.incident_id.in_(ids))
            .group_by(alarm_t.c.incident_id)
        )
        return {int(incident): int(count) for incident, count in self._c.execute(query)}

    def incident_row(self, incident_id: str) -> IncidentRow | None:
        key = self._incident_id(incident_id)
        if key is None:
            return None
        row = self._c.execute(select(incident_t).where(incident_t.c.id == key)).one_or_none()
        if row is None:
            return None
        return self._to_row(row, self._alarm_counts([key]).get(key, 0))

    def save_incident(self, incident: Incident, at: datetime) -> None:
        resolved = incident.state == IncidentState.RESOLVED
        values = {
            "key": int(incident.id),
            "state": incident.state.value,
            "version": incident.version,
            "cycle": incident.cycle,
            "step": incident.step,
            "crisis": incident.crisis,
            "paged": _names(incident.paged),
            "stage_paged": _names(incident.stage_paged),
            "undeliverable": _names(incident.undeliverable),
            "acked_by": _names(incident.acked_by),
            "confirmed_by": _names(incident.confirmed_by),
            "updated_at": at,
            "resolved_at": at if resolved else None,
        }
        self._c.hold(_SAVE_INCIDENT, values)

    def incidents(self, states: Sequence[IncidentState], limit: int, before: str | None = None) -> list[IncidentRow]:
        query = select(incident_t).order_by(incident_t.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(incident_t.c.id < int(before))
        if states:
            query = query.where(incident_t.c.state.in_([s.value for s in states]))
        rows = list(self._c.execute(query))
        counts = self._alarm_counts([row.id for row in rows])
        return [self._to_row(row, counts.get(row.id, 0)) for row in rows]

    # --- timeline

    def add_entry(self, incident: str, at: datetime, kind: str, text: str, person: str | None) -> None:
        if not incident:  # a message about no incident (a sign-in code): no timeline to write it on
            log.info("%s: %s", kind, text)
            return
        values = {"incident_id": int(incident), "at": at, "kind": kind, "text": text, "person": person}
        self._c.hold(_ADD_ENTRY, values)

    def timeline(self, incident: str) -> list[TimelineEntry]:
        key = self._incident_id(incident)
        if key is None:
            return []
        query = select(timeline_t).where(timeline_t.c.incident_id == key).order_by(timeline_t.c.id)
        return [
            TimelineEntry(id=r.id, incident=str(r.incident_id), at=r.at, kind=r.kind, text=r.text, person=r.person)
            for r in self._c.execute(query)
        ]

    def timeline_after(self, after: int, limit: int) -> list[TimelineEntry]:
        query = select(timeline_t).where(timeline_t.c.id > after).order_by(timeline_t.c.id).limit(limit)
        return [
            TimelineEntry(id=r.id, incident=str(r.incident_id), at=r.at, kind=r.kind, text=r.text, person=r.person)
            for r in self._c.execute(query)
        ]

    def last_entry(self) -> int:
        found = self._c.execute(select(func.max(timeline_t.c.id))).scalar()
        return int(found or 0)

    def incident_alarms(self, incident: str, limit: int) -> list[AlarmRecord]:
        key = self._incident_id(incident)
        if key is None:
            return []
        query = select(alarm_t).where(alarm_t.c.incident_id == key).order_by(alarm_t.c.id.desc()).limit(limit)
        return [
            AlarmRecord(r.received_at, r.source, r.status, r.severity, r.summary, dict(json.loads(r.labels)))
            for r in self._c.execute(query)
        ]


class SnapshotCache:
    """Decoded policy/roster copies by their stored text: the text is the whole content, so an entry can
    never be stale, and the incidents opened under the same policy and rosters share one decoded copy
    (keyed by incident id, 10,000 open incidents held 10,000 equal copies: bench/memory.py)."""

    def __init__(self, size: int = 1_000) -> None:
        self._size = size
        self._items: dict[str, tuple[Policy, tuple[Roster, ...]]] = {}
        self._lock = threading.Lock()

    def get(self, text: str) -> tuple[Policy, tuple[Roster, ...]]:
        with self._lock:
            found = self._items.get(text)
        if found is not None:
            return found
        decoded = snapshot.load(text)
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()
            self._items[text] = decoded
        return decoded
