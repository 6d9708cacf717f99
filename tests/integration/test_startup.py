"""Start-up and readiness do not grow with closed history (issue 14).

A restarted service took 2.2 s to become ready with a fresh database and 8.8 s after a few thousand
incidents: some statement run at start-up or by /readyz read the whole history. This test restarts a
service over a database with a few open incidents and some closed history, captures every statement
the database is sent (a SQLAlchemy ``before_cursor_execute`` listener on every engine: the schema
check, the overdue timers fired at start, the first rounds of the timer and dispatch loops, /readyz),
then replays each of them (in a transaction rolled back) before and after ten times more closed
history is added, and measures its work:

- SQLite: virtual-machine instructions, counted by sqlite3's progress handler. Reaching a row through
  an index is one instruction whatever the table's size; a scan costs a few per row.
- PostgreSQL: rows the plan visits (``EXPLAIN (ANALYZE, FORMAT JSON)``: each node's rows, plus those
  its filters removed, times its loops), after ``VACUUM ANALYZE`` as autovacuum would have done.

It fails naming every statement whose work grew. Being generic, it also covers statements added later
(new tables, new start-up checks) without being told about them.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from memoguard import bootstrap
from memoguard.engine.runtime import Engine
from memoguard.http.app import create_app
from memoguard.services.record import Alarm, AlarmStatus
from tests.conftest import FakeClock
from tests.support.history import add_closed

OPEN = 4  # open incidents, each paged at step 1 and waiting on its timer
BEFORE = 300  # closed incidents at the first measure
AFTER = 3_000  # closed incidents added before the second (older than the open ones, like the rest)
FIRST = 10  # the first closed incident's id
PEOPLE = [("alice", "+33612345601"), ("bob", "+33612345602")]
# Work may vary by a little (a B-tree one level deeper, a plan's constant); growing with history may not.
GROWTH, SLACK = 1.5, 50
MEASURED = re.compile(r"^\s*(SELECT|WITH|UPDATE|DELETE|INSERT\s+INTO\s+\S+\s*(\([^)]*\)\s*)?SELECT)\b", re.I | re.S)


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any


@contextmanager
def captured() -> Iterator[list[Statement]]:
    """Every statement any engine sends meanwhile (executemany batches of inserts left out: their work is
    one row each)."""
    seen: list[Statement] = []

    def record(_c: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, executemany: bool) -> None:
        if not executemany:
            seen.append(Statement(sql, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


def distinct(statements: list[Statement]) -> list[Statement]:
    """One of each measurable statement (reads and writes that may search; plain inserts, transaction
    control, PRAGMAs and NOTIFY do not depend on the tables' size)."""
    found: dict[str, Statement] = {}
    for statement in statements:
        if MEASURED.match(statement.sql) and statement.sql not in found:
            found[statement.sql] = statement
    return list(found.values())


def work(engine: sa.Engine, statement: Statement) -> int:
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        if engine.dialect.name == "sqlite":
            return _sqlite_steps(driver, statement)
        return _postgres_rows(driver, statement)
    finally:
        raw.close()


def plan(engine: sa.Engine, statement: Statement) -> str:
    """How the database runs it (shown with a statement that grew)."""
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(explain + statement.sql, statement.parameters)
        return " | ".join(str(row[-1]).strip() for row in cursor.fetchall())
    finally:
        raw.rollback()
        raw.close()


def _sqlite_steps(connection: Any, statement: Statement) -> int:
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    cursor = connection.cursor()
    cursor.execute("BEGIN")
    try:
        connection.set_progress_handler(tick, 1)
        cursor.execute(statement.sql, statement.parameters)
        cursor.fetchall()
    finally:
        connection.set_progress_handler(None, 1)
        cursor.execute("ROLLBACK")
    return steps[0]


def _postgres_rows(connection: Any, statement: Statement) -> int:
    try:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql, statement.parameters)
            [[plans]] = cursor.fetchall()
    finally:
        connection.rollback()
    plan = (json.loads(plans) if isinstance(plans, str) else plans)[0]["Plan"]
    return _visited(plan)


def _visited(node: dict[str, Any]) -> int:
    own = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
    own += node.get("Rows Removed by Index Recheck", 0) + node.get("Rows Removed by Join Filter", 0)
    return int(own * node.get("Actual Loops", 1)) + sum(_visited(child) for child in node.get("Plans", []))


def _alarm(key: str, status: AlarmStatus = AlarmStatus.FIRING) -> Alarm:
    return Alarm("monitoring", key, status, "critical", f"start-up test {key}")


async def _readyz(api: Any) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://memoguard") as client:
        return await client.get("/readyz")


def _restart(service_dir: Path, clock: FakeClock) -> list[Statement]:
    """Start a service as ``serve`` does (schema check, engine start: the overdue timers fire, the loops
    come round once) and ask /readyz; every statement sent meanwhile."""
    with captured() as seen:
        app = bootstrap.application(bootstrap.load(service_dir), clock)
        engine = Engine(app, sweep_seconds=60)
        began = time.monotonic()
        engine.start()
        try:
            deadline = time.monotonic() + 10
            while min(engine.timers.last_beat, engine.dispatcher.last_beat) <= began:
                assert time.monotonic() < deadline, "the engine loops did not come round"
                time.sleep(0.01)
            response = asyncio.run(_readyz(create_app(app, lambda: engine.alive)))
            assert response.status_code == 200, response.text
        finally:
            engine.stop()
            app.store.close()
    return seen


def test_no_startup_or_readiness_statement_works_more_with_closed_history(
    service_dir: Path, fake_clock: FakeClock
) -> None:
    app = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    try:
        # History first, as in a service that ran for months: one incident through the ingest and
        # resolved (add_closed copies its policy), closed ones after it, and ids kept free below the
        # open incidents for the history added later.
        app.ingest.receive([_alarm("first")])
        app.ingest.receive([_alarm("first", AlarmStatus.RESOLVED)])
        fake_clock.advance(timedelta(days=5))
        db: sa.Engine = app.store.engine  # type: ignore[attr-defined]
        add_closed(db, BEFORE, fake_clock.now(), PEOPLE, first_id=FIRST)
        add_closed(db, 1, fake_clock.now(), PEOPLE, first_id=FIRST + BEFORE + AFTER)
        app.ingest.receive([_alarm(f"open-{i}") for i in range(OPEN)])
    finally:
        app.store.close()
    fake_clock.advance(timedelta(minutes=30))  # the service was down: the step-1 timers are overdue
    statements = distinct(_restart(service_dir, fake_clock))
    assert any("timer" in s.sql and s.sql.lstrip().upper().startswith("DELETE") for s in statements)
    assert any("notification" in s.sql for s in statements)

    db = sa.create_engine(bootstrap.load(service_dir).database_url)
    try:
        before = [work(db, s) for s in statements]
        add_closed(db, AFTER, fake_clock.now(), PEOPLE, first_id=FIRST + BEFORE)
        after = [work(db, s) for s in statements]
        grown = [
            f"{b} → {a}: {' '.join(s.sql.split())}\n  plan: {plan(db, s)}"
            for s, b, a in zip(statements, before, after, strict=True)
            if a > GROWTH * b + SLACK
        ]
    finally:
        db.dispose()
    assert not grown, f"{len(grown)} statement(s) work more with {AFTER} more closed incidents:\n" + "\n".join(grown)
