"""Group commit of concurrent alarm requests, on SQLite and PostgreSQL.

Requests that arrive while a transaction is being written are written together in the next one; if that
group fails, each of its requests is written again alone, so a request that fails takes only its own
alarms with it, and nothing is answered before its own commit. The store is wrapped so that a test can
hold a transaction open (the others queue behind it) and make one alarm or every commit fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from memoguard import bootstrap
from memoguard.services.application import Application
from memoguard.services.ingest import Ingest
from memoguard.services.record import Alarm, AlarmStatus, Outcome, Receipt, StoredAlarm
from memoguard.services.store import Store, Unit
from tests.conftest import FakeClock


class Poisoned(Exception):
    """Raised by the wrapped unit for an alarm whose dedup key is 'poison'."""


class Fatal(BaseException):
    """Not an Exception: ends the writer thread (as KeyboardInterrupt or SystemExit would)."""


class _Unit:
    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._unit, name)

    def add_alarms(self, alarms: Sequence[StoredAlarm], *args: Any) -> list[int]:
        if any(stored.alarm.dedup_key == "poison" for stored in alarms):
            raise Poisoned("this alarm cannot be stored")
        if any(stored.alarm.dedup_key == "fatal" for stored in alarms):
            raise Fatal("the writer thread ends here")
        return self._unit.add_alarms(alarms, *args)


class GatedStore:
    """The real store; its first write waits for ``gate``; ``fail_commit`` fails writes at their end."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.writes = 0
        self.fail_commit = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def write(self) -> Iterator[Unit]:
        self.writes += 1
        first = self.writes == 1
        with self._store.write() as unit:
            if first:
                self.entered.set()
                assert self.gate.wait(10), "the test never opened the gate"
            yield _Unit(unit)  # type: ignore[misc]
            if self.fail_commit:
                raise OSError("disk full")


@pytest.fixture
def app(service_dir: Path, fake_clock: FakeClock) -> Iterator[Application]:
    application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    yield application
    application.store.close()


def ingest_on(app: Application, store: GatedStore | None = None, idle: float = 1.0) -> Ingest:
    return Ingest(store or app.store, app.clock, app.config, app.escalator, idle=idle)  # type: ignore[arg-type]


def firing(key: str) -> Alarm:
    return Alarm("monitoring", key, AlarmStatus.FIRING, "critical", f"alarm {key}")


def resolved(key: str) -> Alarm:
    return Alarm("monitoring", key, AlarmStatus.RESOLVED, "critical", f"alarm {key}")


class Caller(threading.Thread):
    def __init__(self, ingest: Ingest, alarms: list[Alarm]) -> None:
        super().__init__(daemon=True)
        self._ingest = ingest
        self._alarms = alarms
        self.receipts: list[Receipt] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.receipts = self._ingest.receive(self._alarms)
        except BaseException as error:
            self.error = error


def queue_behind_gate(ingest: Ingest, store: GatedStore, batches: list[list[Alarm]]) -> list[Caller]:
    """The first batch holds the gate open; the others queue behind it; then the gate opens."""
    first = Caller(ingest, batches[0])
    first.start()
    assert store.entered.wait(10)
    others = [Caller(ingest, batch) for batch in batches[1:]]
    for caller in others:
        caller.start()
    deadline = threading.Event()
    for _ in range(1000):
        if ingest.waiting == len(others):
            break
        deadline.wait(0.01)
    assert ingest.waiting == len(others), "the other requests did not queue"
    store.gate.set()
    callers = [first, *others]
    for caller in callers:
        caller.join(10)
        assert not caller.is_alive()
    return callers


def stored_keys(app: Application) -> list[str]:
    with app.store.read() as unit:
        return sorted(row.dedup_key for row in unit.incidents([], 100))


def test_requests_queued_during_a_write_share_the_next_transaction(app: Application) -> None:
    store = GatedStore(app.store)
    ingest = ingest_on(app, store)
    batches = [[firing("first")], [firing("a")], [firing("b"), firing("a")], [firing("c")]]
    callers = queue_behind_gate(ingest, store, batches)
    assert store.writes == 2  # the held one, then all three queued requests together
    assert all(c.error is None for c in callers)
    outcomes = [[r.outcome for r in c.receipts or []] for c in callers]
    assert outcomes == [[Outcome.OPENED], [Outcome.OPENED], [Outcome.OPENED, Outcome.ATTACHED], [Outcome.OPENED]]
    a_opened, a_attached = callers[1].receipts[0], callers[2].receipts[1]  # type: ignore[index]
    assert a_opened.incident == a_attached.incident  # the second "a" joined the first, in the same transaction
    assert stored_keys(app) == ["a", "b", "c", "first"]


def test_a_failing_request_takes_only_its_own_alarms_with_it(app: Application) -> None:
    store = GatedStore(app.store)
    ingest = ingest_on(app, store)
    batches = [[firing("first")], [firing("a")], [firing("b"), firing("poison")], [firing("c")]]
    callers = queue_behind_gate(ingest, store, batches)
    assert store.writes == 2 + 3  # the group failed, then each of its requests was written alone
    assert isinstance(callers[2].error, Poisoned)
    assert callers[2].receipts is None
    assert [c.error for c in (callers[0], callers[1], callers[3])] == [None, None, None]
    # "b" was opened by the failing request: rolled back with it.
    assert stored_keys(app) == ["a", "c", "first"]
    assert [[r.outcome for r in c.receipts or []] for c in (callers[1], callers[3])] == [
        [Outcome.OPENED],
        [Outcome.OPENED],
    ]


def test_when_every_commit_fails_every_request_gets_the_error(app: Application) -> None:
    store = GatedStore(app.store)
    store.fail_commit = True
    ingest = ingest_on(app, store)
    callers = queue_behind_gate(ingest, store, [[firing("first")], [firing("a")], [firing("b")]])
    assert store.writes == 2 + 2
    for caller in callers:
        assert isinstance(caller.error, OSError), caller.error
        assert str(caller.error) == "disk full"
        assert caller.receipts is None
    assert stored_keys(app) == []


def test_a_group_sees_its_own_decisions_in_order(app: Application) -> None:
    """Open, join, resolve and reopen one key within one transaction: each alarm is decided against the
    incident as the alarms before it in the group left it."""
    store = GatedStore(app.store)
    ingest = ingest_on(app, store)
    batches = [[firing("first")], [firing("k"), firing("k")], [resolved("k")], [firing("k"), resolved("nothing")]]
    callers = queue_behind_gate(ingest, store, batches)
    assert store.writes == 2
    receipts = [r for c in callers[1:] for r in c.receipts or []]
    assert [r.outcome for r in receipts] == [
        Outcome.OPENED,
        Outcome.ATTACHED,
        Outcome.RESOLVED,
        Outcome.OPENED,
        Outcome.IGNORED,
    ]
    first, joined, closed, reopened, _ = (r.incident for r in receipts)
    assert first == joined == closed != reopened
    assert receipts[4].incident is None
    assert len({r.alarm for r in receipts}) == 5
    with app.store.read() as unit:
        old, new = unit.incident_row(str(first)), unit.incident_row(str(reopened))
        assert old is not None and new is not None
        assert (old.incident.state.value, old.alarms) == ("resolved", 3)
        assert (new.incident.state.value, new.alarms) == ("triggered", 1)
        assert [e.kind for e in unit.timeline(str(first))][:2] == ["alarm", "triggered"]


def test_a_request_whose_caller_gave_up_is_still_stored(app: Application) -> None:
    store = GatedStore(app.store)
    ingest = ingest_on(app, store)
    first = Caller(ingest, [firing("first")])
    first.start()
    assert store.entered.wait(10)
    abandoned = ingest.submit([firing("abandoned")])
    assert abandoned.cancel()  # still queued: the caller stops waiting
    store.gate.set()
    first.join(10)
    assert first.error is None
    late = ingest.receive([firing("late")])  # written after the abandoned one, by the same writer
    assert [r.outcome for r in late] == [Outcome.OPENED]
    with pytest.raises(CancelledError):
        abandoned.result(0)
    assert stored_keys(app) == ["abandoned", "first", "late"]


def test_a_new_writer_starts_after_the_last_one_ended(app: Application) -> None:
    ingest = ingest_on(app, idle=0)
    for key in ("a", "b", "c"):
        assert [r.outcome for r in ingest.receive([firing(key)])] == [Outcome.OPENED]
    assert stored_keys(app) == ["a", "b", "c"]


def test_many_concurrent_callers_each_get_their_own_receipts(app: Application) -> None:
    keys = [f"k{i % 7}" for i in range(120)]
    callers = [Caller(app.ingest, [firing(key) for key in keys[i::12]]) for i in range(12)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(30)
        assert caller.error is None
    incidents: dict[str, set[str | None]] = {}
    alarm_ids: list[int] = []
    for i, caller in enumerate(callers):
        assert caller.receipts is not None
        assert len(caller.receipts) == len(keys[i::12])
        for key, receipt in zip(keys[i::12], caller.receipts, strict=True):
            incidents.setdefault(key, set()).add(receipt.incident)
            alarm_ids.append(receipt.alarm)
    assert all(len(found) == 1 for found in incidents.values())  # every key, one incident
    assert len(set(alarm_ids)) == 120
    with app.store.read() as unit:
        rows = unit.incidents([], 100)
    assert sorted(r.dedup_key for r in rows) == sorted(set(keys))
    assert sum(r.alarms for r in rows) == 120


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_requests_queued_behind_a_writer_that_died_are_still_written(app: Application) -> None:
    store = GatedStore(app.store)
    ingest = ingest_on(app, store)
    dying = Caller(ingest, [firing("fatal")])
    dying.start()
    assert store.entered.wait(10)
    behind = ingest.submit([firing("behind")])  # queued while the doomed group is being written
    store.gate.set()
    dying.join(10)
    assert isinstance(dying.error, Fatal)
    assert [r.outcome for r in behind.result(10)] == [Outcome.OPENED]  # a new writer took it
    assert [r.outcome for r in ingest.receive([firing("after")])] == [Outcome.OPENED]
    assert stored_keys(app) == ["after", "behind"]
