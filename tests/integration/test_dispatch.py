"""The issue's acceptance test for rate limits: 2,000 pages queued at once behind a provider limited to
100/s go out exactly once, never more than 100 within any one second as the provider sees them, and
before every status message — with one dispatcher, and with two sharing the database."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from memoguard import bootstrap
from memoguard.adapters.template import TemplateRenderer
from memoguard.services.application import Application
from memoguard.services.dispatch import Dispatcher
from memoguard.services.provider import Message
from memoguard.services.record import Alarm, AlarmStatus, NotificationDraft, NotificationStatus
from tests.conftest import FakeClock

PAGES = 2000
STATUSES = 200


class Recorder:
    """The provider's side: when each message arrived, on the shared fake clock."""

    name = "console"

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.received: list[tuple[datetime, int, str]] = []

    def send(self, message: Message) -> str | None:
        with self._lock:
            self.received.append((self._clock.now(), message.id, message.purpose))
        return None


@pytest.fixture
def app(service_dir: Path, fake_clock: FakeClock) -> Iterator[Application]:
    main = service_dir / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace(
        "console: {kind: console, file: pages.jsonl}", "console: {kind: console, file: pages.jsonl, rate: ['100/s']}"
    )
    main.write_text(text + "storm: {pages: 0}\n", encoding="utf-8")  # one person gets them all: no bundling here
    application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    yield application
    application.store.close()


def _queue_everything(app: Application, clock: FakeClock) -> None:
    [receipt] = app.ingest.receive([Alarm("monitoring", "flood", AlarmStatus.FIRING, "critical", "flood")])
    assert receipt.incident is not None
    with app.store.write() as unit:
        for purpose, count in (("status", STATUSES), ("page", PAGES)):  # statuses first: priority, not age
            for i in range(count):
                draft = NotificationDraft(
                    receipt.incident, "bob", ("sms",), purpose, 0, 0, "x", "s", f"{i}", clock.now()
                )
                unit.add_notification(draft)


def _dispatcher(app: Application, clock: FakeClock, recorder: Recorder, *, paced: bool = False) -> Dispatcher:
    config = app.config
    delivery = bootstrap.delivery(config)

    def pace(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    providers = {"console": recorder}
    renderer = TemplateRenderer()
    return Dispatcher(
        app.store, clock, config.people, delivery, providers, app.escalator, renderer, pace=pace if paced else None
    )


def _run_until_empty(app: Application, clock: FakeClock, dispatchers: list[Dispatcher]) -> None:
    for _ in range(10_000):
        for dispatcher in dispatchers:
            dispatcher.drain()
        with app.store.read() as unit:
            due = unit.next_notification_due()
        if due is None:
            return
        if due > clock.now():
            clock.advance(due - clock.now())
    raise AssertionError("the outbox never emptied")


def _max_in_any_second(times: list[datetime]) -> int:
    ordered = sorted(times)
    return max(bisect.bisect_right(ordered, t + timedelta(seconds=1)) - i for i, t in enumerate(ordered))


def _check(app: Application, recorder: Recorder, started: datetime) -> None:
    ids = [message for _, message, _ in recorder.received]
    assert len(ids) == PAGES + STATUSES + 1  # the incident's own page to alice too
    assert len(set(ids)) == len(ids), "a notification was sent twice"
    assert _max_in_any_second([at for at, _, _ in recorder.received]) == 100
    purposes = [purpose for _, _, purpose in recorder.received]
    assert purposes.index("status") == PAGES + 1, "a status message went out before a page"
    elapsed = max(at for at, _, _ in recorder.received) - started
    # 2,201 messages at 100/s: the last one leaves in the 23rd second, not later (no slot wasted).
    assert timedelta(seconds=22) <= elapsed < timedelta(seconds=23)
    with app.store.read() as unit:
        statuses = {n.status for n in unit.notifications("1")}
    assert statuses == {NotificationStatus.SENT}


def test_two_thousand_pages_at_100_per_second_go_out_once_and_before_status_messages(
    app: Application, fake_clock: FakeClock
) -> None:
    recorder = Recorder(fake_clock)
    started = fake_clock.now()
    _queue_everything(app, fake_clock)

    _run_until_empty(app, fake_clock, [_dispatcher(app, fake_clock, recorder)])

    _check(app, recorder, started)


def test_a_paced_dispatcher_waits_for_each_slot_and_keeps_to_the_rate(app: Application, fake_clock: FakeClock) -> None:
    """Pacing (the service's mode): a round plans the slots opening within the next second and waits
    for each, instead of leaving them to later rounds."""
    recorder = Recorder(fake_clock)
    started = fake_clock.now()
    _queue_everything(app, fake_clock)

    _run_until_empty(app, fake_clock, [_dispatcher(app, fake_clock, recorder, paced=True)])

    _check(app, recorder, started)


def test_two_dispatchers_on_one_database_share_the_rate(app: Application, fake_clock: FakeClock) -> None:
    recorder = Recorder(fake_clock)
    started = fake_clock.now()
    _queue_everything(app, fake_clock)
    first, second = _dispatcher(app, fake_clock, recorder), _dispatcher(app, fake_clock, recorder)

    def run(dispatcher: Dispatcher) -> None:
        for _ in range(5):
            dispatcher.drain()

    # Both dispatch rounds run at the same moment of the fake clock, in two threads, each believing it
    # may use the whole rate: the shared log in the database is what keeps them to 100/s together.
    for _ in range(200):
        threads = [threading.Thread(target=run, args=(d,)) for d in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with app.store.read() as unit:
            due = unit.next_notification_due()
        if due is None:
            break
        if due > fake_clock.now():
            fake_clock.advance(due - fake_clock.now())

    _check(app, recorder, started)
