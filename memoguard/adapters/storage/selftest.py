"""The self-test's durable timer (issue 19, services/selftest.py): the one row of table ``selftest``.

Claimed like a heartbeat's deadline: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL in the transaction that
sends the test page (or decides its outcome) and moves ``due_at`` on, so several instances send one
page per run, and a restart in between loses nothing. SQLite's writer lock does the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.dialects import postgresql, sqlite

from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.table import SelfTestTable
from memoguard.services.record import TestRun

run_t = SelfTestTable.__table__  # type: ignore[attr-defined]
NAME = "self_test"


class SqlSelfTest:
    _c: Batch
    _postgres: bool

    def add_test_run(self, run: TestRun) -> None:
        insert_new = postgresql.insert if self._postgres else sqlite.insert
        self._c.execute(insert_new(run_t).values(name=NAME, **_values(run)).on_conflict_do_nothing())

    def test_run(self) -> TestRun | None:
        row = self._c.execute(select(run_t).where(run_t.c.name == NAME)).one_or_none()
        return None if row is None else _run(row)

    def test_run_for_update(self, due_by: datetime | None = None) -> TestRun | None:
        query = select(run_t).where(run_t.c.name == NAME)
        if due_by is not None:
            query = query.where(run_t.c.due_at <= due_by)
        if self._postgres:
            query = query.with_for_update(skip_locked=due_by is not None)
        row = self._c.execute(query).one_or_none()
        return None if row is None else _run(row)

    def save_test_run(self, run: TestRun) -> None:
        self._c.execute(update(run_t).where(run_t.c.name == NAME).values(_values(run)))


def _values(run: TestRun) -> dict[str, Any]:
    return {
        "state": run.state,
        "due_at": run.due,
        "incident_id": None if run.incident is None else int(run.incident),
        "last_outcome": run.last_outcome,
    }


def _run(r: Row[Any]) -> TestRun:
    return TestRun(r.state, r.due_at, None if r.incident_id is None else str(r.incident_id), r.last_outcome)
