"""The engine's loops in this process: they wake when work is written, not only on their sweep.

The sweep is set to a minute here, so a page that goes out within seconds proves the wake-up path:
the store's in-process signal, and PostgreSQL's LISTEN/NOTIFY when another process writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.domain.silence import Matcher
from memoguard.engine.runtime import Engine
from memoguard.services.access import Context
from memoguard.services.application import Application
from memoguard.services.record import Alarm, AlarmStatus
from tests.conftest import FakeClock

SLOW_SWEEP = 60.0


def _alarm(key: str) -> Alarm:
    return Alarm("monitoring", key, AlarmStatus.FIRING, "critical", f"engine test {key}")


def _wait(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _sent(app: Application, incident: str) -> list[str]:
    with app.store.read() as unit:
        return [n.person for n in unit.notifications(incident) if n.status == "sent"]


@pytest.fixture
def running(service_dir: Path, fake_clock: FakeClock) -> Iterator[tuple[Application, Engine]]:
    app = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    engine = Engine(app, sweep_seconds=SLOW_SWEEP)
    engine.start()
    yield app, engine
    engine.stop()
    app.store.close()


def test_a_new_incident_wakes_the_dispatcher(running: tuple[Application, Engine]) -> None:
    app, engine = running
    [receipt] = app.ingest.receive([_alarm("wake-1")])
    assert receipt.incident is not None
    _wait(lambda: _sent(app, receipt.incident or "") == ["alice"], "alice's page")
    assert engine.alive


def test_overdue_timers_fire_at_start_in_due_order(service_dir: Path, fake_clock: FakeClock) -> None:
    app = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    first = app.ingest.receive([_alarm("early")])[0].incident
    fake_clock.advance(timedelta(minutes=1))
    second = app.ingest.receive([_alarm("late")])[0].incident
    fake_clock.advance(timedelta(hours=1))  # the service was down: both step-1 timers are overdue
    engine = Engine(app, sweep_seconds=SLOW_SWEEP)
    engine.start()  # fires everything overdue before returning
    try:
        with app.store.read() as unit:
            escalated = [
                (e.incident, e.text) for i in (first, second) for e in unit.timeline(i or "") if e.kind == "ack_timeout"
            ]
            order = [e.id for i in (first, second) for e in unit.timeline(i or "") if e.kind == "ack_timeout"]
        assert [incident for incident, _ in escalated] == [first, second]
        assert order == sorted(order)  # the earlier deadline was decided first
        _wait(lambda: "bob" in _sent(app, first or "") and "bob" in _sent(app, second or ""), "bob's pages")
    finally:
        engine.stop()
        app.store.close()


def test_postgres_notify_from_another_process_wakes_the_engine(
    running: tuple[Application, Engine], service_dir: Path, fake_clock: FakeClock
) -> None:
    app, _ = running
    listener = bootstrap.listener(app)
    if listener is None:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite the sweep is the cross-process path (next test)")
    listener.start()
    other = bootstrap.application(bootstrap.load(service_dir), fake_clock)  # its own connection pool
    try:
        time.sleep(0.2)  # let LISTEN register before the other process writes
        incident = other.ingest.receive([_alarm("elsewhere")])[0].incident
        _wait(lambda: _sent(app, incident or "") == ["alice"], "the page written by the other process")
    finally:
        listener.stop()
        other.store.close()


def test_the_sweep_picks_up_work_written_by_another_process(service_dir: Path, fake_clock: FakeClock) -> None:
    app = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    other = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    engine = Engine(app, sweep_seconds=0.2)
    engine.start()
    try:
        incident = other.ingest.receive([_alarm("swept")])[0].incident
        _wait(lambda: _sent(app, incident or "") == ["alice"], "the sweep to send the other process's page")
    finally:
        engine.stop()
        app.store.close()
        other.store.close()


def test_a_failing_release_of_silenced_incidents_does_not_stop_the_timers(
    service_dir: Path, fake_clock: FakeClock
) -> None:
    # The engine looks for silenced incidents no window holds before it fires timers: that look failing
    # (here the silence table gone) must be logged and tried later, never hold every escalation back.
    app = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    app.silences.add(Matcher(labels=(("host", "db1"),)), timedelta(hours=2), "patching", Context("test", actor="root"))
    app.ingest.receive([Alarm("monitoring", "held", AlarmStatus.FIRING, "critical", "held", labels={"host": "db1"})])
    [receipt] = app.ingest.receive([_alarm("not-held")])
    store = app.store
    assert isinstance(store, SqlStore)
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE silence RENAME TO silence_gone"))
    engine = Engine(app, sweep_seconds=SLOW_SWEEP)
    engine.start()
    try:
        _wait(lambda: _sent(app, receipt.incident or "") == ["alice"], "alice's page")
        fake_clock.advance(timedelta(minutes=20))  # past step 1's ack window: bob next
        engine.wake()
        _wait(lambda: "bob" in _sent(app, receipt.incident or ""), "bob's page, the sweep failing")
    finally:
        engine.stop()
        app.store.close()
