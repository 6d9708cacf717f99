"""The heartbeat and silence half of ``SqlUnit`` (issue 17): dead man's switches and maintenance windows.

A heartbeat's row is its own durable timer: ``deadline`` is when its next ping is due. Due rows are
claimed ``FOR UPDATE SKIP LOCKED`` on PostgreSQL inside the transaction that opens the miss's incident
and sets the row ``missed`` (deadline one period on), so several instances decide each miss once, and a
rollback leaves it due. On SQLite the writer's lock (``BEGIN IMMEDIATE``) does the same. Recurring
reads go through ``ix_deadman_deadline`` and ``ix_silence_ends_at``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.incident import MAX_ID, alarm_t
from memoguard.adapters.storage.table import DeadmanTable, SilenceTable
from memoguard.domain.silence import Matcher, Silence
from memoguard.services.record import Pulse, PulseState

pulse_t = DeadmanTable.__table__  # type: ignore[attr-defined]
silence_t = SilenceTable.__table__  # type: ignore[attr-defined]


class SqlDeadman:
    _c: Batch
    _postgres: bool

    # --- heartbeats

    def add_pulses(self, pulses: Sequence[Pulse]) -> None:
        if not pulses:
            return
        # Two instances may declare the same heartbeat at once: the second insert does nothing.
        insert_new = postgresql.insert if self._postgres else sqlite.insert
        statement = insert_new(pulse_t).values([_values(p) for p in pulses]).on_conflict_do_nothing()
        self._c.execute(statement)

    def pulses(self, names: Sequence[str] | None = None) -> list[Pulse]:
        query = select(pulse_t).order_by(pulse_t.c.name)
        if names is not None:
            query = query.where(pulse_t.c.name.in_(list(names)))
        return [_pulse(r) for r in self._c.execute(query)]

    def pulse_for_update(self, name: str) -> Pulse | None:
        query = select(pulse_t).where(pulse_t.c.name == name)
        if self._postgres:
            query = query.with_for_update()
        row = self._c.execute(query).one_or_none()
        return None if row is None else _pulse(row)

    def save_pulse(self, pulse: Pulse) -> None:
        values = _values(pulse)
        del values["name"]
        self._c.execute(update(pulse_t).where(pulse_t.c.name == pulse.name).values(values))

    def claim_due_pulses(self, names: Sequence[str], now: datetime, limit: int) -> list[Pulse]:
        if not names:
            return []
        query = (
            select(pulse_t)
            .where(pulse_t.c.deadline <= now, pulse_t.c.name.in_(list(names)))
            .order_by(pulse_t.c.deadline, pulse_t.c.name)
            .limit(limit)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        return [_pulse(r) for r in self._c.execute(query)]

    def next_pulse_due(self, names: Sequence[str]) -> datetime | None:
        if not names:
            return None
        query = select(func.min(pulse_t.c.deadline)).where(pulse_t.c.name.in_(list(names)))
        value: datetime | None = self._c.execute(query).scalar_one_or_none()
        return value

    # --- silences

    def add_silence(self, silence: Silence) -> int:
        assert silence.starts_at is not None and silence.ends_at is not None and silence.created_at is not None
        matcher = silence.matcher
        row = self._c.execute(
            insert(silence_t)
            .values(
                matcher=json.dumps(
                    {
                        "sources": sorted(matcher.sources),
                        "severities": sorted(matcher.severities),
                        "labels": [list(pair) for pair in matcher.labels],
                    }
                ),
                comment=silence.comment,
                starts_at=silence.starts_at,
                ends_at=silence.ends_at,
                created_by=silence.created_by,
                created_at=silence.created_at,
            )
            .returning(silence_t.c.id)
        )
        return int(row.scalar_one())

    def silence(self, silence: int) -> Silence | None:
        if not 0 < silence <= MAX_ID:
            return None
        row = self._c.execute(select(silence_t).where(silence_t.c.id == silence)).one_or_none()
        return None if row is None else _silence(row)

    def silences(self, ending_after: datetime | None) -> list[Silence]:
        query = select(silence_t).order_by(silence_t.c.id)
        if ending_after is not None:
            query = query.where(silence_t.c.ends_at > ending_after, silence_t.c.removed_at.is_(None))
        return [_silence(r) for r in self._c.execute(query)]

    def remove_silence(self, silence: int, at: datetime, by: str | None) -> None:
        self._c.execute(
            update(silence_t)
            .where(silence_t.c.id == silence, silence_t.c.removed_at.is_(None))
            .values(removed_at=at, removed_by=by)
        )

    def held_alarm(self, incident: str) -> tuple[str, str, dict[str, str]] | None:
        """The (source, severity, labels) of the first alarm of ``incident``: what a silence matched."""
        number = int(incident) if incident.isdigit() else 0
        query = (
            select(alarm_t.c.source, alarm_t.c.severity, alarm_t.c.labels)
            .where(alarm_t.c.incident_id == number)
            .order_by(alarm_t.c.id)
            .limit(1)
        )
        row = self._c.execute(query).one_or_none()
        return None if row is None else (row.source, row.severity, dict(json.loads(row.labels)))


def _values(pulse: Pulse) -> dict[str, Any]:
    return {
        "name": pulse.name,
        "state": pulse.state.value,
        "since": pulse.since,
        "last_ping": pulse.last_ping,
        "deadline": pulse.deadline,
        "incident_id": None if pulse.incident is None else int(pulse.incident),
    }


def _pulse(r: Row[Any]) -> Pulse:
    incident = None if r.incident_id is None else str(r.incident_id)
    return Pulse(r.name, PulseState(r.state), r.since, r.last_ping, r.deadline, incident)


def _silence(r: Row[Any]) -> Silence:
    data = json.loads(r.matcher)
    matcher = Matcher(
        frozenset(data.get("sources", ())),
        frozenset(data.get("severities", ())),
        tuple((str(k), str(v)) for k, v in data.get("labels", ())),
    )
    return Silence(
        str(r.id),
        matcher,
        r.comment,
        r.starts_at,
        r.ends_at,
        created_by=r.created_by,
        created_at=r.created_at,
        removed_at=r.removed_at,
    )
