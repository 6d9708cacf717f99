"""A delivery world for dispatcher and reply tests: the service test configuration with its channels and
providers rewritten, test policies and routes, one application on the fake clock, and a dispatcher
whose providers are recording fakes of an external system (they fail when told to, with the
``DeliveryError`` a real adapter would raise). Nothing sleeps: time moves only by ``FakeClock.advance``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from memoguard import bootstrap
from memoguard.adapters.template import TemplateRenderer
from memoguard.domain.incident import Incident
from memoguard.services.application import Application
from memoguard.services.dispatch import Dispatcher
from memoguard.services.provider import DeliveryError, Message, Provider
from memoguard.services.record import Alarm, AlarmStatus, Notification, NotificationStatus, TimelineEntry
from tests.conftest import FakeClock

SEED = 20261117
SENT = NotificationStatus.SENT
PENDING = NotificationStatus.PENDING

# Policies added to the copied service configuration, and the routes that reach them (by label).
POLICIES = {
    "notify.yaml": (
        "name: notify\n"
        "notices: [acknowledged, resolved]\n"
        "steps:\n"
        '  - {notify: ["roster:ops"], channels: [sms], ack_within: 5m}\n'
        '  - {notify: ["roster:ops/secondary"], channels: [sms], ack_within: 5m}\n'
    ),
    "quiet.yaml": (
        "name: quiet\n"
        "steps:\n"
        '  - {notify: ["roster:ops"], channels: [sms], ack_within: 5m}\n'
        '  - {notify: ["roster:ops/secondary"], channels: [sms], ack_within: 5m}\n'
    ),
    "pair.yaml": (
        'name: pair\nsteps:\n  - {notify: ["person:alice", "person:carol"], channels: [sms, voice], ack_within: 5m}\n'
    ),
}
ROUTES = (
    "  - {match: {labels: {policy: notify}}, policy: notify}\n"
    "  - {match: {labels: {policy: quiet}}, policy: quiet}\n"
    "  - {match: {labels: {policy: pair}}, policy: pair}\n"
)

CONSOLE_ONLY = """\
channels:
  sms: [console]
  voice: [console]
  email: [console]
providers:
  console: {kind: console}
"""

TWO_SMS_PROVIDERS = """\
channels:
  sms: {providers: [console, backup], deadline: 1m}
  voice: [console]
  email: [mailer]
providers:
  console: {kind: console}
  backup: {kind: console}
  mailer: {kind: console}
"""


class FakeProvider:
    """A provider that records every call and fails as told: ``failures`` are raised by the next calls
    in order, then ``fail`` (if set) decides per message."""

    def __init__(self, name: str, clock: FakeClock) -> None:
        self.name = name
        self._clock = clock
        self.failures: list[DeliveryError] = []
        self.fail: Callable[[Message], DeliveryError | None] | None = None
        self.before: Callable[[Message], None] | None = None
        self.calls: list[tuple[datetime, Message]] = []
        self.sent: list[tuple[datetime, Message]] = []

    def send(self, message: Message) -> str | None:
        now = self._clock.now()
        self.calls.append((now, message))
        if self.before is not None:
            hook, self.before = self.before, None  # once
            hook(message)
        if self.failures:
            raise self.failures.pop(0)
        if self.fail is not None:
            error = self.fail(message)
            if error is not None:
                raise error
        self.sent.append((now, message))
        return f"{self.name}-{message.id}"


class World:
    """One application on the fake clock, with a dispatcher whose providers are fakes."""

    def __init__(
        self, app: Application, clock: FakeClock, fakes: Sequence[str], real: Mapping[str, Provider] | None = None
    ) -> None:
        """``real``: providers of the real kind (an SMPP link to the test SMSC) beside the fakes."""
        self.app = app
        self.clock = clock
        self.providers = {name: FakeProvider(name, clock) for name in fakes}
        config = app.config
        self.dispatcher = Dispatcher(
            app.store,
            clock,
            config.people,
            bootstrap.delivery(config),
            {**self.providers, **(real or {})},
            app.escalator,
            TemplateRenderer(),
            random.Random(SEED),
        )

    def open(self, *keys: str, policy: str | None = None) -> list[str]:
        labels = {"policy": policy} if policy else {}
        alarms = [
            Alarm("monitoring", key, AlarmStatus.FIRING, "critical", f"disk full on {key}", labels=labels)
            for key in keys
        ]
        incidents = [receipt.incident for receipt in self.app.ingest.receive(alarms)]
        assert all(i is not None for i in incidents)
        return [i for i in incidents if i is not None]

    def resolve(self, key: str, policy: str | None = None) -> None:
        labels = {"policy": policy} if policy else {}
        self.app.ingest.receive([Alarm("monitoring", key, AlarmStatus.RESOLVED, "critical", key, labels=labels)])

    def settle(self, dispatcher: Dispatcher | None = None) -> int:
        """Rounds until nothing is ready at this instant (a failover is ready again at once)."""
        chosen = dispatcher or self.dispatcher
        total = 0
        for _ in range(200):
            seen = chosen.drain()
            if seen == 0:
                return total
            total += seen
        raise AssertionError("rows keep coming back at the same instant")

    def run(self, rounds: int = 500) -> None:
        """Drain, then jump to the next row's ``not_before``, until the outbox has nothing pending."""
        for _ in range(rounds):
            self.settle()
            with self.app.store.read() as unit:
                due = unit.next_notification_due()
            if due is None:
                return
            self.clock.advance(max(due - self.clock.now(), timedelta(microseconds=1)))
        raise AssertionError("the outbox did not empty")

    def rows(self, incident: str) -> list[Notification]:
        with self.app.store.read() as unit:
            return unit.notifications(incident)

    def row(self, incident: str) -> Notification:
        [only] = self.rows(incident)
        return only

    def timeline(self, incident: str, kind: str | None = None) -> list[TimelineEntry]:
        with self.app.store.read() as unit:
            entries = unit.timeline(incident)
        return [e for e in entries if kind is None or e.kind == kind]

    def kinds(self, incident: str) -> list[str]:
        return [e.kind for e in self.timeline(incident)]

    def incident(self, incident: str) -> Incident:
        with self.app.store.read() as unit:
            found = unit.incident(incident)
        assert found is not None
        return found


class Builder:
    def __init__(self, directory: Path, clock: FakeClock) -> None:
        self._directory = directory
        self._clock = clock
        self._apps: list[Application] = []

    def __call__(
        self,
        delivery: str,
        fakes: Sequence[str] = ("console",),
        *,
        storm: str = "",
        alice: str | None = None,
        real: Callable[[Application], Mapping[str, Provider]] | None = None,
    ) -> World:
        """Rewrite the copied configuration's channels and providers (``delivery``), storm control and
        alice's channel preference, add the test policies and their routes, and build the application.
        ``real(app)`` builds providers of the real kind for the dispatcher (given the application, whose
        ``replies`` takes what they receive)."""
        main = self._directory / "memoguard.yaml"
        text = main.read_text(encoding="utf-8")
        head = text[: text.index("channels:\n")].replace("routes:\n", "routes:\n" + ROUTES, 1)
        if alice is not None:
            mine = "alice@example.com, language: fr, channels: [sms, email]}"
            assert mine in head
            head = head.replace(mine, f"alice@example.com, language: fr, channels: {alice}}}")
        main.write_text(head + delivery + storm, encoding="utf-8")
        for name, body in POLICIES.items():
            (self._directory / "escalation_policies" / name).write_text(body, encoding="utf-8")
        app = bootstrap.application(bootstrap.load(self._directory), self._clock)
        self._apps.append(app)
        return World(app, self._clock, fakes, real(app) if real is not None else None)

    def close(self) -> None:
        for app in self._apps:
            app.store.close()


@pytest.fixture
def build(service_dir: Path, fake_clock: FakeClock) -> Iterator[Builder]:
    builder = Builder(service_dir, fake_clock)
    yield builder
    builder.close()
