"""Races between writers (issue 14), on SQLite and PostgreSQL.

A decision's clock is read once its transaction holds what it decides on, not before it waits for it;
crossing ingest batches on two instances do not deadlock; a timer that cannot be decided is postponed
by its own row, never by re-claiming "the first due one". A second thread holds a write (and, on
PostgreSQL, the incident's row lock) while the one under test waits for it: the test waits until the
store reports it waiting, then moves the fake clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore, incident_t
from memoguard.domain.event import TimerKind
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.ingest import Ingest
from memoguard.services.provider import DeliveryError, Message
from memoguard.services.record import Alarm, AlarmStatus, DueTimer, NewIncident, NotificationStatus, Outcome, Receipt
from memoguard.services.store import Store, Unit
from tests.conftest import T0, FakeClock
from tests.support.delivery import CONSOLE_ONLY, Builder

MINUTE = timedelta(minutes=1)


@pytest.fixture
def app(service_dir: Path, fake_clock: FakeClock) -> Iterator[Application]:
    application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    yield application
    application.store.close()


def _alarm(key: str, **labels: str) -> Alarm:
    return Alarm("monitoring", key, AlarmStatus.FIRING, "critical", key, labels=labels)


def _open(app: Application, key: str, **labels: str) -> str:
    incident = app.ingest.receive([_alarm(key, **labels)])[0].incident
    assert incident is not None
    return incident


def _timers(app: Application, incident: str, kind: TimerKind) -> list[DueTimer]:
    with app.store.read() as unit:
        return [t for t in unit.timers(incident) if t.kind == kind]


def _kinds(app: Application, incident: str) -> list[str]:
    with app.store.read() as unit:
        return [entry.kind for entry in unit.timeline(incident)]


def _sql(store: Store) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store


def _until_waiting(store: SqlStore) -> None:
    """Until a transaction waits for a lock (polling a condition, not timing anything)."""
    deadline = time.monotonic() + 10
    while store.writers_waiting() == 0:
        assert time.monotonic() < deadline, "nothing came to wait for the lock"
        time.sleep(0.005)


class _Thread(threading.Thread):
    """Runs ``work``; ``result()`` joins it and returns its value or raises its error."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._work = work
        self._value: Any = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as error:  # handed to the test thread
            self._error = error

    def result(self) -> Any:
        self.join(30)
        assert not self.is_alive(), "the thread did not finish"
        if self._error is not None:
            raise self._error
        return self._value


@contextmanager
def _held(app: Application, incident: str) -> Iterator[None]:
    """Another writer holds ``incident`` (SQLite's write lock; PostgreSQL's row lock) until the block ends."""
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with app.store.write() as unit:
            assert unit.incident(incident) is not None
            holding.set()
            done.wait(30)

    holder = _Thread(hold)
    holder.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        done.set()
        holder.result()


def test_an_ack_that_waited_for_the_lock_starts_its_confirm_window_when_it_got_it(
    app: Application, fake_clock: FakeClock
) -> None:
    incident = _open(app, "double", policy="double")
    with _held(app, incident):
        ack = _Thread(lambda: app.actions.act(incident, Verb.ACK, "alice", "test"))
        ack.start()
        _until_waiting(_sql(app.store))
        fake_clock.advance(7 * MINUTE)
    ack.result()
    assert [t.due_at for t in _timers(app, incident, TimerKind.CONFIRM_TIMEOUT)] == [T0 + 17 * MINUTE]


def test_a_timer_that_waited_for_the_lock_gives_the_next_step_its_full_window(
    app: Application, fake_clock: FakeClock
) -> None:
    incident = _open(app, "late")
    fake_clock.advance(5 * MINUTE)
    with _held(app, incident):
        fire = _Thread(app.timers.fire_due)
        fire.start()
        _until_waiting(_sql(app.store))
        fake_clock.advance(7 * MINUTE)
    assert fire.result() == 1
    assert [t.due_at for t in _timers(app, incident, TimerKind.ACK_TIMEOUT)] == [T0 + 17 * MINUTE]


def test_alarms_that_waited_for_the_lock_open_incidents_at_the_time_they_got_it(
    app: Application, fake_clock: FakeClock
) -> None:
    held = _open(app, "held")
    with _held(app, held):
        ingest = _Thread(lambda: app.ingest.receive([_alarm("held"), _alarm("new")]))
        ingest.start()
        _until_waiting(_sql(app.store))
        fake_clock.advance(7 * MINUTE)
    attached, opened = ingest.result()
    assert (attached.outcome, opened.outcome) == (Outcome.ATTACHED, Outcome.OPENED)
    assert [t.due_at for t in _timers(app, opened.incident, TimerKind.ACK_TIMEOUT)] == [T0 + 12 * MINUTE]


def test_a_poisoned_timer_is_postponed_itself_not_the_first_due_one(app: Application, fake_clock: FakeClock) -> None:
    healthy = _open(app, "healthy")  # its timer is due first
    fake_clock.advance(timedelta(seconds=10))
    broken = _open(app, "broken")
    store = _sql(app.store)
    with store.engine.begin() as connection:  # the broken incident's copy of its policy cannot be read
        connection.execute(update(incident_t).where(incident_t.c.id == int(broken)).values(snapshot="{not json"))
    # Another instance has claimed the healthy incident's timer; its claim rolls back just as the broken
    # timer fails here (on SQLite, where a claim cannot be held open beside this one, the row is taken out
    # and put back).
    with app.store.write() as unit:
        claimed = unit.timers(healthy)
        unit.cancel_timers(healthy)
    fake_clock.advance(6 * MINUTE)

    class RollBack(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("a timer could not be fired") and claimed:
                with app.store.write() as unit:
                    for timer in claimed:
                        unit.add_timer(timer.incident, timer.kind, timer.due_at, timer.version)
                claimed.clear()

    handler = RollBack()
    logging.getLogger("memoguard.services.timer").addHandler(handler)
    try:
        app.timers.fire_due()
    finally:
        logging.getLogger("memoguard.services.timer").removeHandler(handler)

    assert "timer_error" not in _kinds(app, healthy)
    assert "ack_timeout" in _kinds(app, healthy)
    assert _kinds(app, broken)[-1] == "timer_error"
    assert [t.due_at for t in _timers(app, broken, TimerKind.ACK_TIMEOUT)] == [fake_clock.now() + MINUTE]


class _PausedUnit:
    """A unit that stops before creating the incident of ``key`` until ``go`` is set."""

    def __init__(self, unit: Unit, key: str, paused: threading.Event, go: threading.Event) -> None:
        self._unit, self._key, self._paused, self._go = unit, key, paused, go

    def __getattr__(self, name: str) -> Any:
        return getattr(self._unit, name)

    def create_incident(self, draft: NewIncident) -> str:
        if draft.dedup_key == self._key:
            self._paused.set()
            assert self._go.wait(30)
        return self._unit.create_incident(draft)


class _PausedStore:
    def __init__(self, store: Store, key: str) -> None:
        self._store = store
        self._key = key
        self.paused = threading.Event()
        self.go = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def write(self) -> Iterator[Any]:
        with self._store.write() as unit:
            yield _PausedUnit(unit, self._key, self.paused, self.go)


def test_crossing_batches_on_two_instances_do_not_deadlock(
    app: Application, service_dir: Path, fake_clock: FakeClock
) -> None:
    if not _sql(app.store).postgres:
        pytest.skip("SQLite has one writer: batches never cross")
    other = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    try:
        paused = _PausedStore(other.store, "b")
        second = Ingest(paused, fake_clock, other.config, other.escalator)
        # The second instance has created "a" and is about to create "b" when the first one writes [b, a].
        b_then = _Thread(lambda: second.write_group([[_alarm("a"), _alarm("b")]]))
        b_then.start()
        assert paused.paused.wait(10)
        first = _Thread(lambda: app.ingest.write_group([[_alarm("b"), _alarm("a")]]))
        first.start()
        _until_waiting(_sql(app.store))  # for the second instance's "a"
        paused.go.set()
        theirs: list[list[Receipt]] = b_then.result()
        mine: list[list[Receipt]] = first.result()
    finally:
        other.store.close()
    assert [r.outcome for r in theirs[0]] == [Outcome.OPENED, Outcome.OPENED]
    assert [r.outcome for r in mine[0]] == [Outcome.ATTACHED, Outcome.ATTACHED]
    assert [r.incident for r in mine[0]] == [r.incident for r in reversed(theirs[0])]


def test_a_page_that_failed_while_its_incident_was_held_moves_on_from_when_it_got_it(
    build: Builder, fake_clock: FakeClock
) -> None:
    w = build(CONSOLE_ONLY)  # alice's page goes by SMS, then by e-mail: both refused
    store = _sql(w.app.store)
    holding, done = threading.Event(), threading.Event()
    holders: list[_Thread] = []

    def hold(incident: str) -> None:
        with w.app.store.write() as unit:
            assert unit.incident(incident) is not None
            holding.set()
            done.wait(30)

    def fail(message: Message) -> DeliveryError | None:
        if message.person is None or message.person.name != "alice":
            return None
        if message.channel != "email":
            return DeliveryError("console: invalid number", retryable=False)
        # Another writer takes the incident between the last refused send and its recording.
        holder = _Thread(lambda: hold(message.incident))
        holders.append(holder)
        holder.start()
        assert holding.wait(10)
        return DeliveryError("console: invalid number", retryable=False)

    w.providers["console"].fail = fail
    [incident] = w.open("db-1")
    dispatch = _Thread(w.settle)
    dispatch.start()
    assert holding.wait(10)
    _until_waiting(store)
    fake_clock.advance(7 * MINUTE)
    done.set()
    holders[0].result()
    dispatch.result()

    assert "delivery_failed" in w.kinds(incident)
    assert w.incident(incident).step == 1
    assert [t.due_at for t in _timers(w.app, incident, TimerKind.ACK_TIMEOUT)] == [T0 + 12 * MINUTE]


def test_a_page_failing_for_good_while_a_resolve_cancels_it_does_not_deadlock(
    build: Builder, caplog: pytest.LogCaptureFixture
) -> None:
    """Lock order on PostgreSQL: the recorder of a failed page locks the incident before the page's row,
    as every decision does. A resolve holds the incident, then cancels the incident's rows: had the
    recorder taken the row first (to count the call) and then waited for the incident, each would wait
    for the other and PostgreSQL would abort one of them."""
    w = build(CONSOLE_ONLY)
    store = _sql(w.app.store)
    if not store.postgres:
        pytest.skip("SQLite has one writer: nothing waits for a row lock")
    holding, go = threading.Event(), threading.Event()
    holders: list[_Thread] = []

    def resolve_meanwhile(incident: str, page: int) -> None:
        with w.app.store.write() as unit:
            assert unit.incident(incident) is not None
            holding.set()
            assert go.wait(30)
            unit.notification_cancelled(page, "the incident was resolved")

    def fail(message: Message) -> DeliveryError | None:
        if message.channel == "email":  # the last channel: its refusal is a failure for good
            holder = _Thread(lambda: resolve_meanwhile(message.incident, message.id))
            holders.append(holder)
            holder.start()
            assert holding.wait(10)
        return DeliveryError("console: invalid number", retryable=False)

    w.providers["console"].fail = fail
    [incident] = w.open("db-1")
    dispatch = _Thread(w.settle)
    dispatch.start()
    assert holding.wait(10)
    _until_waiting(store)  # the recorder, waiting for the incident the resolve holds
    go.set()
    holders[0].result()
    dispatch.result()  # the dispatcher survives a deadlock (it logs it and gives the row back): look there
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

    [page] = [n for n in w.rows(incident) if n.person == "alice"]
    assert page.status == NotificationStatus.CANCELLED
    assert "delivery_error" not in w.kinds(incident)  # the cancelled page is not failed over it
