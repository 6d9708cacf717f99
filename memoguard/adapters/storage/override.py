"""The overrides half of ``SqlUnit``: who stands in for whom, stored in the database and laid over the
roster copies at every decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select

from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.incident import MAX_ID
from memoguard.adapters.storage.table import OverrideTable
from memoguard.services.record import StoredOverride

override_t = OverrideTable.__table__  # type: ignore[attr-defined]

_OVERRIDES = select(override_t).order_by(override_t.c.start_at, override_t.c.id)
_OVERRIDES_IN_FORCE = _OVERRIDES.where(
    override_t.c.roster.in_(bindparam("rosters", expanding=True)),
    override_t.c.end_at > bindparam("at"),
    override_t.c.start_at <= bindparam("at"),
)


class SqlOverrides:
    _c: Batch
    _overrides: dict[tuple[str, datetime], list[StoredOverride]]

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
        if not 0 < override <= MAX_ID:
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
