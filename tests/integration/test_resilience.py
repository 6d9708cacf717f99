"""One broken incident or one misbehaving provider must not hold back everyone else's pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore, incident_t
from memoguard.adapters.template import TemplateRenderer
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.dispatch import Dispatcher
from memoguard.services.provider import Message
from memoguard.services.record import Alarm, AlarmStatus, NotificationStatus
from tests.conftest import FakeClock


@pytest.fixture
def app(service_dir: Path, fake_clock: FakeClock) -> Iterator[Application]:
    application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    yield application
    application.store.close()


def _open(app: Application, key: str) -> str:
    incident = app.ingest.receive([Alarm("monitoring", key, AlarmStatus.FIRING, "critical", key)])[0].incident
    assert incident is not None
    return incident


def _kinds(app: Application, incident: str) -> list[str]:
    with app.store.read() as unit:
        return [entry.kind for entry in unit.timeline(incident)]


def test_a_timer_that_cannot_be_decided_is_postponed_and_the_others_fire(
    app: Application, fake_clock: FakeClock
) -> None:
    broken = _open(app, "broken")
    fake_clock.advance(timedelta(seconds=10))
    healthy = _open(app, "healthy")
    store = app.store
    assert isinstance(store, SqlStore)
    with store.engine.begin() as connection:  # the broken incident's copy of its policy cannot be read
        connection.execute(update(incident_t).where(incident_t.c.id == int(broken)).values(snapshot="{not json"))
    fake_clock.advance(timedelta(minutes=6))

    assert app.timers.fire_due() == 2

    assert "ack_timeout" in _kinds(app, healthy)
    assert _kinds(app, broken)[-1] == "timer_error"
    with app.store.read() as unit:
        [postponed] = unit.timers(broken)
    assert postponed.due_at == fake_clock.now() + timedelta(minutes=1)
    assert app.timers.fire_due() == 0  # not due again before its minute is up


class Exploding:
    """A provider with a bug: it raises something that is not a DeliveryError."""

    name = "console"

    def send(self, message: Message) -> str | None:
        raise RuntimeError(f"bug while sending {message.id}")


def test_a_provider_that_raises_is_retried_later_and_does_not_stall_the_queue(
    app: Application, fake_clock: FakeClock
) -> None:
    first, second = _open(app, "one"), _open(app, "two")
    config = app.config
    providers = {"console": Exploding()}
    delivery = bootstrap.delivery(config)
    dispatcher = Dispatcher(
        app.store, fake_clock, config.people, delivery, providers, app.escalator, TemplateRenderer()
    )

    assert dispatcher.drain() == 2

    with app.store.read() as unit:
        rows = [*unit.notifications(first), *unit.notifications(second)]
    assert [row.status for row in rows] == [NotificationStatus.PENDING, NotificationStatus.PENDING]
    assert all("RuntimeError" in (row.error or "") for row in rows)
    assert "delivery_retry" in _kinds(app, first) and "delivery_retry" in _kinds(app, second)
    fake_clock.advance(timedelta(seconds=3))
    assert app.dispatcher.drain() == 2  # the real console provider takes them once the backoff is over


def test_a_page_still_queued_when_the_incident_is_acknowledged_is_not_sent(app: Application) -> None:
    incident = _open(app, "acked-before-sent")  # alice's page is written but not yet handed over
    app.actions.act(incident, Verb.ACK, "alice", "api")

    assert app.dispatcher.drain() == 1

    with app.store.read() as unit:
        [page] = unit.notifications(incident)
    assert page.status == NotificationStatus.CANCELLED
    assert _kinds(app, incident)[-1] == "notification_dropped"
    assert not (app.config.directory / "pages.jsonl").exists()
