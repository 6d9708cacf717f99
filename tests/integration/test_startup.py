"""Start-up and readiness do not grow with closed history (issue 14).

A restarted service took 2.2 s to become ready with a fresh database and 8.8 s after a few thousand
incidents: some statement run at start-up or by /readyz read the whole history. This test restarts a
service over a database with a few open incidents and some closed history, captures every statement
the database is sent (a SQLAlchemy ``before_cursor_execute`` listener on every engine: the schema
check, the overdue timers fired at start, the first rounds of the timer and dispatch loops, /readyz,
a /metrics scrape),
then replays each of them (in a transaction rolled back) before and after ten times more closed
history is added, and measures its work (tests/support/statements.py: SQLite virtual-machine
instructions, PostgreSQL rows visited, after ``VACUUM ANALYZE`` as autovacuum would have done).

It fails naming every statement whose work grew. Being generic, it also covers statements added later
(new tables, new start-up checks) without being told about them.
"""

from __future__ import annotations

import asyncio
import time
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
from tests.support.statements import Statement, captured, distinct, plan, work

OPEN = 4  # open incidents, each paged at step 1 and waiting on its timer
BEFORE = 300  # closed incidents at the first measure
AFTER = 3_000  # closed incidents added before the second (older than the open ones, like the rest)
FIRST = 10  # the first closed incident's id
PEOPLE = [("alice", "+33612345601"), ("bob", "+33612345602")]
# Work may vary by a little (a B-tree one level deeper, a plan's constant); growing with history may not.
GROWTH, SLACK = 1.5, 50


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
            scraped, _ = app.metrics.exposition()  # a Prometheus scrape reads its gauges (issue 19)
            assert b"memoguard_database_up 1.0" in scraped, scraped
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
