"""The timers half of ``SqlUnit``: durable timers, fenced by the incident's version.

Due timers are claimed by deleting them (``DELETE … RETURNING``) inside the transaction that decides
what they do, so a crash or rollback puts them back and a commit consumes them exactly once; on
PostgreSQL they are selected with ``FOR UPDATE SKIP LOCKED``, so several instances share the work.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, update

from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.table import TimerTable
from memoguard.domain.event import TimerKind
from memoguard.services.record import DueTimer

timer_t = TimerTable.__table__  # type: ignore[attr-defined]

_ADD_TIMER = insert(timer_t)
_CANCEL_TIMERS = delete(timer_t).where(timer_t.c.incident_id == bindparam("incident"))
# Rows locked by a timer batch are already claimed (and fenced by version): skipping them avoids a deadlock
# between that batch (timer rows, then incidents) and a decision (incident, then timers).
_CANCEL_UNLOCKED_TIMERS = delete(timer_t).where(
    timer_t.c.id.in_(
        select(timer_t.c.id)
        .where(timer_t.c.incident_id == bindparam("incident"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
)


class SqlTimers:
    _c: Batch
    _postgres: bool
    woke: bool

    # --- timers

    def add_timer(self, incident: str, kind: TimerKind, due_at: datetime, version: int) -> None:
        values = {"incident_id": int(incident), "kind": kind.value, "due_at": due_at, "version": version}
        self._c.hold(_ADD_TIMER, values)
        self.woke = True

    def cancel_timers(self, incident: str) -> None:
        # Held like the other writes (batch.py): sent before anything reads, and on PostgreSQL pipelined
        # with them. Sent at once, it cost a round trip per decision (a timer batch's largest cost).
        self._c.hold(_CANCEL_UNLOCKED_TIMERS if self._postgres else _CANCEL_TIMERS, {"incident": int(incident)})

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
        return [DueTimer(str(r.incident_id), TimerKind(r.kind), r.due_at, r.version, r.id) for r in claimed]

    def postpone_timer(self, timer: DueTimer, due_at: datetime) -> bool:
        moved = self._c.execute(
            update(timer_t)
            .where(timer_t.c.id == timer.id, timer_t.c.version == timer.version)
            .values(due_at=due_at)
            .returning(timer_t.c.id)
        )
        return moved.one_or_none() is not None

    def next_timer_due(self) -> datetime | None:
        value: datetime | None = self._c.execute(select(func.min(timer_t.c.due_at))).scalar_one_or_none()
        return value

    def timers(self, incident: str) -> list[DueTimer]:
        query = select(timer_t).where(timer_t.c.incident_id == int(incident)).order_by(timer_t.c.due_at)
        rows = self._c.execute(query)
        return [DueTimer(str(r.incident_id), TimerKind(r.kind), r.due_at, r.version, r.id) for r in rows]
