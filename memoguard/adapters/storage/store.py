"""The storage port on SQLAlchemy Core over the sqlmodel tables, for SQLite and PostgreSQL.

Claims: due timers are taken by deleting them (``DELETE … RETURNING``) inside the transaction that
decides what they do, so a crash or rollback puts them back and a commit consumes them exactly once.
On PostgreSQL timers are selected with ``FOR UPDATE SKIP LOCKED`` and incidents are locked with
``FOR UPDATE`` before a decision, so several instances can share one database; SQLite has a single
writer (``BEGIN IMMEDIATE``). The outbox, rate-limit log and bundles are in ``outbox.py``, its claims
in ``claim.py``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, bindparam, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from memoguard.adapters.storage import snapshot
from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.claim import Claimant
from memoguard.adapters.storage.database import SQLITE_BUSY_TIMEOUT_MS
from memoguard.adapters.storage.outbox import SqlOutbox
from memoguard.adapters.storage.sms import SqlSms
from memoguard.adapters.storage.table import (
    AlarmTable,
    IncidentTable,
    OverrideTable,
    TimelineTable,
    TimerTable,
)
from memoguard.adapters.storage.turn import Turns
from memoguard.domain.event import TimerKind
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.policy import Policy
from memoguard.domain.roster import Roster
from memoguard.services.record import (
    DueTimer,
    IncidentRow,
    NewIncident,
    OpenIncident,
    StoredAlarm,
    StoredOverride,
    TimelineEntry,
)
from memoguard.services.store import OpenIncidentExists

log = logging.getLogger(__name__)

WAKEUP_CHANNEL = "memoguard_wakeup"
_MAX_ID = 2**31 - 1  # incident ids are INTEGER columns (32 bits on PostgreSQL)

incident_t = IncidentTable.__table__  # type: ignore[attr-defined]
alarm_t = AlarmTable.__table__  # type: ignore[attr-defined]
timeline_t = TimelineTable.__table__  # type: ignore[attr-defined]
timer_t = TimerTable.__table__  # type: ignore[attr-defined]
override_t = OverrideTable.__table__  # type: ignore[attr-defined]

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
_ADD_TIMER = insert(timer_t)
_CANCEL_TIMERS = delete(timer_t).where(timer_t.c.incident_id == bindparam("incident"))
_SAVE_INCIDENT = update(incident_t).where(incident_t.c.id == bindparam("key"))
_OVERRIDES = select(override_t).order_by(override_t.c.start_at, override_t.c.id)
_OVERRIDES_IN_FORCE = _OVERRIDES.where(
    override_t.c.roster.in_(bindparam("rosters", expanding=True)),
    override_t.c.end_at > bindparam("at"),
    override_t.c.start_at <= bindparam("at"),
)


def _names(values: Sequence[str] | frozenset[str]) -> str:
    return json.dumps(sorted(values) if isinstance(values, frozenset) else list(values))


class SqlUnit(SqlOutbox, SqlSms):
    """One transaction (see ``memoguard.services.store.Unit``)."""

    _c: Batch  # type: ignore[assignment]  # a Connection to the mixins: Batch has what they use

    def __init__(self, connection: Connection, snapshots: _SnapshotCache, claimant: Claimant, *, writing: bool) -> None:
        self._c = Batch(connection)
        self._claimant = claimant
        self._snapshots = snapshots
        self._postgres = connection.dialect.name == "postgresql"
        self._writing = writing
        self._overrides: dict[tuple[str, datetime], list[StoredOverride]] = {}
        self.woke = False

    def ping(self) -> None:
        self._c.execute(text("SELECT 1"))

    def flush(self) -> None:
        """Send the held writes (before the commit)."""
        self._c.flush()

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
        if not (incident_id.isascii() and incident_id.isdigit()) or int(incident_id) > _MAX_ID:
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

    def incidents(self, states: Sequence[IncidentState], limit: int) -> list[IncidentRow]:
        query = select(incident_t).order_by(incident_t.c.id.desc()).limit(limit)
        if states:
            query = query.where(incident_t.c.state.in_([s.value for s in states]))
        rows = list(self._c.execute(query))
        counts = self._alarm_counts([row.id for row in rows])
        return [self._to_row(row, counts.get(row.id, 0)) for row in rows]

    # --- timeline

    def add_entry(self, incident: str, at: datetime, kind: str, text: str, person: str | None) -> None:
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

    # --- timers

    def add_timer(self, incident: str, kind: TimerKind, due_at: datetime, version: int) -> None:
        values = {"incident_id": int(incident), "kind": kind.value, "due_at": due_at, "version": version}
        self._c.hold(_ADD_TIMER, values)
        self.woke = True

    def cancel_timers(self, incident: str) -> None:
        if not self._postgres:
            self._c.hold(_CANCEL_TIMERS, {"incident": int(incident)})
            return
        # Rows locked by a timer batch are already claimed (and fenced by version): skipping them avoids a
        # deadlock between that batch (timer rows, then incidents) and this decision (incident, then timers).
        mine = select(timer_t.c.id).where(timer_t.c.incident_id == int(incident)).with_for_update(skip_locked=True)
        self._c.execute(delete(timer_t).where(timer_t.c.id.in_(mine.scalar_subquery())))

    def claim_due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        due = select(timer_t.c.id).where(timer_t.c.due_at <= now).order_by(timer_t.c.due_at, timer_t.c.id).limit(limit)
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        claimed = list(
            self._c.execute(
                delete(timer_t)
                .where(timer_t.c.id.in_(due.scalar_subquery()))
                .returning(timer_t.c.id, timer_t.c.incident_id, timer_t.c.kind, timer_t.c.due_at, timer_t.c.version)
            )
        )
        claimed.sort(key=lambda r: (r.due_at, r.id))
        return [DueTimer(str(r.incident_id), TimerKind(r.kind), r.due_at, r.version) for r in claimed]

    def next_timer_due(self) -> datetime | None:
        value: datetime | None = self._c.execute(select(func.min(timer_t.c.due_at))).scalar_one_or_none()
        return value

    def timers(self, incident: str) -> list[DueTimer]:
        query = select(timer_t).where(timer_t.c.incident_id == int(incident)).order_by(timer_t.c.due_at)
        return [DueTimer(str(r.incident_id), TimerKind(r.kind), r.due_at, r.version) for r in self._c.execute(query)]

    # --- overrides

    def add_override(
        self, roster: str, who: str, start: datetime, end: datetime, level: str, note: str, at: datetime
    ) -> int:
        row = self._c.execute(
            insert(override_t)
            .values(roster=roster, who=who, start_at=start, end_at=end, level=level, note=note, created_at=at)
            .returning(override_t.c.id)
        )
        self._overrides.clear()
        return int(row.scalar_one())

    def remove_override(self, override: int) -> StoredOverride | None:
        if not 0 < override <= _MAX_ID:
            return None
        row = self._c.execute(
            delete(override_t).where(override_t.c.id == override).returning(*override_t.c)
        ).one_or_none()
        self._overrides.clear()
        return None if row is None else _to_override(row)

    def overrides(self, roster: str | None = None, covering: datetime | None = None) -> list[StoredOverride]:
        query = _OVERRIDES
        if roster is not None:
            query = query.where(override_t.c.roster == roster)
        if covering is not None:
            query = query.where(override_t.c.end_at > covering, override_t.c.start_at <= covering)
        return [_to_override(r) for r in self._c.execute(query)]

    def overrides_in_force(self, rosters: Sequence[str], at: datetime) -> list[StoredOverride]:
        # Kept for the rest of the transaction (which sees no other writer's change): a group of alarms or
        # a batch of timers decides many incidents at one instant, and reads each roster's rows once.
        missing = sorted({name for name in rosters if (name, at) not in self._overrides})
        if missing:
            for name in missing:
                self._overrides[(name, at)] = []
            for row in self._c.execute(_OVERRIDES_IN_FORCE, {"rosters": missing, "at": at}):
                self._overrides[(row.roster, at)].append(_to_override(row))
        found = [o for name in dict.fromkeys(rosters) for o in self._overrides[(name, at)]]
        return sorted(found, key=lambda o: (o.start, o.id))


def _to_override(r: Row[Any]) -> StoredOverride:
    return StoredOverride(
        id=r.id,
        roster=r.roster,
        who=r.who,
        start=r.start_at,
        end=r.end_at,
        level=r.level,
        note=r.note,
        created_at=r.created_at,
    )


class _SnapshotCache:
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


class WriterBusy(RuntimeError):
    """Another thread held SQLite's write lock longer than the busy timeout."""


class SqlStore:
    """``memoguard.services.store.Store`` on one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._snapshots = _SnapshotCache()
        self.claimant = Claimant(engine)  # this process's name in outbox claims (claim.py)
        self._subscribers: list[Callable[[], None]] = []
        # SQLite has one writer. Threads of this process queue here, in turn, rather than on SQLite's busy
        # handler, which polls with sleeps of up to 100 ms: under concurrent writes that sleeping, not the
        # work, set the pace. Other processes (the CLI) still meet busy_timeout.
        self._sqlite_writer = Turns() if not self.postgres else None

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[SqlUnit]:
        with self._writer(), self.engine.connect() as connection, connection.begin():
            unit = SqlUnit(connection, self._snapshots, self.claimant, writing=True)
            yield unit
            unit.flush()
            if unit.woke and self.postgres:
                # Delivered to listeners at commit, and only if the transaction commits.
                connection.execute(text(f"NOTIFY {WAKEUP_CHANNEL}"))
        if unit.woke:
            self._wake()

    @contextmanager
    def _writer(self) -> Iterator[None]:
        if self._sqlite_writer is None:
            yield
            return
        if not self._sqlite_writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise WriterBusy(f"the SQLite write lock was held by another thread for {SQLITE_BUSY_TIMEOUT_MS // 1000}s")
        try:
            yield
        finally:
            self._sqlite_writer.release()

    @contextmanager
    def read(self) -> Iterator[SqlUnit]:
        with self.engine.connect() as raw:
            connection = raw.execution_options(sqlite_begin="DEFERRED")
            with connection.begin():
                yield SqlUnit(connection, self._snapshots, self.claimant, writing=False)

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._subscribers.append(callback)

    def _wake(self) -> None:
        for callback in self._subscribers:
            callback()

    def wake_from_elsewhere(self) -> None:
        """Another process committed timers or notifications (PostgreSQL NOTIFY)."""
        self._wake()

    def ping(self) -> None:
        with self.read() as unit:
            unit.ping()

    def close(self) -> None:
        self.claimant.close()
        self.engine.dispose()
