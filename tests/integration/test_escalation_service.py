"""The escalation use cases end to end on a real database, with a fake clock: alarms in through
``ingest``, timers fired by ``timers``, pages out through the dispatcher and the console provider (one
JSON line per message in pages.jsonl), actions through ``actions``. SQLite always, PostgreSQL when
MEMOGUARD_TEST_DATABASE_URL is set.

What the fixture configuration (tests/fixtures/service) says, and the tests rely on: on Tuesday
2026-11-17 alice (French) is primary of roster ops and bob (English) secondary; carol is next. Policies:
simple (ops sms+email 5m → ops/secondary 5m → dave 10m), double (confirm within 10m, ops → ops/secondary,
5m each), quorum (2 people; ops + ops/secondary 5m → dave 5m), crisis (ops 5m, then erin, gina and hank
with a bridge number, quorum 2, paged again every 10m), expiry (single, ack expires after 30m). root is
an admin. An alarm picks a policy with its ``policy`` label; ``policy: sticky`` is simple with a route
that does not let the source resolve.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import select

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore, alarm_t
from memoguard.domain.event import TimerKind
from memoguard.domain.incident import IncidentState
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.record import (
    Alarm,
    AlarmStatus,
    DueTimer,
    IncidentRow,
    NotificationStatus,
    Outcome,
)

T0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)  # the fake clock's start (tests/conftest.py)
MINUTE = timedelta(minutes=1)
BRIDGE = "+33123456789"


class AdvancingClock(Protocol):
    def now(self) -> datetime: ...

    def advance(self, delta: timedelta) -> datetime: ...


@dataclass(frozen=True)
class Page:
    """One line of pages.jsonl, as the console provider wrote it."""

    incident: str
    person: str
    channel: str
    purpose: str
    text: str
    time: datetime


@dataclass
class Service:
    app: Application
    clock: AdvancingClock
    pages_file: Path
    seen: int = 0

    def alarm(
        self, key: str = "disk-full", policy: str | None = None, status: AlarmStatus = AlarmStatus.FIRING
    ) -> tuple[Outcome, str | None]:
        labels = {"policy": policy} if policy else {}
        alarm = Alarm("monitoring", key, status, "critical", f"{key} on db-1", labels=labels)
        [receipt] = self.app.ingest.receive([alarm])
        return receipt.outcome, receipt.incident

    def open(self, policy: str | None = None, key: str = "disk-full") -> str:
        outcome, incident = self.alarm(key, policy)
        assert outcome == Outcome.OPENED
        assert incident is not None
        return incident

    def at(self, offset: timedelta) -> int:
        """Move the clock to T0 + ``offset`` and fire every timer due by then."""
        assert T0 + offset >= self.clock.now()
        self.clock.advance(T0 + offset - self.clock.now())
        return self.app.timers.fire_all_due()

    def deliver(self) -> list[Page]:
        """Drain the outbox; the pages.jsonl lines written since the last call."""
        self.app.dispatcher.drain_all()
        lines = self.pages_file.read_text(encoding="utf-8").splitlines() if self.pages_file.exists() else []
        new, self.seen = lines[self.seen :], len(lines)
        pages = []
        for line in new:
            data = json.loads(line)
            pages.append(
                Page(
                    data["incident"],
                    data["person"],
                    data["channel"],
                    data["purpose"],
                    data["text"],
                    datetime.fromisoformat(data["time"]),
                )
            )
        return pages

    def act(self, incident: str, verb: Verb, person: str) -> None:
        self.app.actions.act(incident, verb, person, "api")

    def row(self, incident: str) -> IncidentRow:
        with self.app.store.read() as unit:
            row = unit.incident_row(incident)
        assert row is not None
        return row

    def state(self, incident: str) -> IncidentState:
        return self.row(incident).incident.state

    def kinds(self, incident: str) -> list[str]:
        with self.app.store.read() as unit:
            return [entry.kind for entry in unit.timeline(incident)]

    def timers(self, incident: str) -> list[DueTimer]:
        with self.app.store.read() as unit:
            return unit.timers(incident)

    def notifications(self, incident: str) -> list[tuple[str, str, int | None, str, NotificationStatus]]:
        """(person, purpose, step, reason, status) of each notification, in the order they were written."""
        with self.app.store.read() as unit:
            return [(n.person, n.purpose, n.step, n.reason, n.status) for n in unit.notifications(incident)]

    def everything(self, incident: str) -> tuple[Any, ...]:
        """All that is stored about an incident, to show that something changed nothing."""
        with self.app.store.read() as unit:
            return (
                unit.incident_row(incident),
                unit.timeline(incident),
                unit.notifications(incident),
                unit.timers(incident),
            )


@pytest.fixture
def service(service_dir: Path, fake_clock: AdvancingClock) -> Iterator[Service]:
    app = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    yield Service(app, fake_clock, service_dir / "pages.jsonl")
    assert isinstance(app.store, SqlStore)
    app.store.close()


def who(pages: list[Page]) -> list[tuple[str, str]]:
    return [(p.person, p.purpose) for p in pages]


SENT = NotificationStatus.SENT


# --- acknowledgements ---------------------------------------------------------------------------------


def test_a_single_ack_stops_the_escalation(service: Service) -> None:
    incident = service.open()
    assert who(service.deliver()) == [("alice", "page")]

    service.at(2 * MINUTE)
    service.act(incident, Verb.ACK, "alice")
    assert service.state(incident) == IncidentState.ACKNOWLEDGED
    assert service.row(incident).incident.acked_by == ("alice",)
    assert service.timers(incident) == []

    assert service.at(3 * 60 * MINUTE) == 0
    assert service.deliver() == []
    assert service.kinds(incident)[-1] == "acknowledged"
    assert service.notifications(incident) == [("alice", "page", 0, "triggered", SENT)]


def test_nobody_acks_so_step_two_then_step_three_are_paged_on_time(service: Service) -> None:
    incident = service.open()
    assert [(p.person, p.channel, p.time) for p in service.deliver()] == [("alice", "sms", T0)]

    assert service.at(5 * MINUTE - timedelta(seconds=1)) == 0
    assert service.deliver() == []
    assert service.at(5 * MINUTE) == 1
    assert [(p.person, p.time) for p in service.deliver()] == [("bob", T0 + 5 * MINUTE)]

    assert service.at(10 * MINUTE - timedelta(seconds=1)) == 0
    assert service.at(10 * MINUTE) == 1
    assert [(p.person, p.time) for p in service.deliver()] == [("dave", T0 + 10 * MINUTE)]

    assert service.timers(incident) == [DueTimer(incident, TimerKind.ACK_TIMEOUT, T0 + 20 * MINUTE, 3)]
    assert service.at(20 * MINUTE) == 1  # the last step timed out: nothing left to page
    assert service.deliver() == []
    assert service.timers(incident) == []
    assert service.state(incident) == IncidentState.TRIGGERED  # still open, can still be acknowledged
    assert service.kinds(incident) == [
        "alarm",
        "triggered",
        "paged",
        "notified",
        "ack_timeout",
        "paged",
        "notified",
        "ack_timeout",
        "paged",
        "notified",
        "ack_timeout",
        "exhausted",
    ]
    assert service.notifications(incident) == [
        ("alice", "page", 0, "triggered", SENT),
        ("bob", "page", 1, "ack_timeout", SENT),
        ("dave", "page", 2, "ack_timeout", SENT),
    ]


def test_double_ack_confirmed_in_time_stops_everything(service: Service) -> None:
    incident = service.open("double")
    assert who(service.deliver()) == [("alice", "page")]

    service.at(2 * MINUTE)
    service.act(incident, Verb.ACK, "alice")
    assert service.state(incident) == IncidentState.ACKNOWLEDGED
    assert sorted((t.kind, t.due_at) for t in service.timers(incident)) == [
        (TimerKind.ACK_EXPIRY, T0 + 62 * MINUTE),
        (TimerKind.CONFIRM_TIMEOUT, T0 + 12 * MINUTE),
    ]
    assert service.at(5 * MINUTE) == 0  # the first ack paused the step's timeout

    service.at(11 * MINUTE)
    service.act(incident, Verb.CONFIRM, "alice")
    row = service.row(incident)
    assert row.incident.state == IncidentState.CONFIRMED
    assert row.incident.confirmed_by == ("alice",)
    assert service.timers(incident) == []

    assert service.at(3 * 60 * MINUTE) == 0
    assert service.deliver() == []
    assert [k for k in service.kinds(incident) if k in ("acknowledged", "confirmed", "confirm_timeout")] == [
        "acknowledged",
        "confirmed",
    ]


def test_double_ack_not_confirmed_resumes_the_escalation_and_tells_the_first_acker(service: Service) -> None:
    incident = service.open("double")
    service.deliver()
    service.at(2 * MINUTE)
    service.act(incident, Verb.ACK, "alice")

    assert service.at(12 * MINUTE - timedelta(seconds=1)) == 0
    assert service.at(12 * MINUTE) == 1
    pages = service.deliver()
    row = service.row(incident)
    assert row.incident.state == IncidentState.TRIGGERED
    assert row.incident.acked_by == ()
    assert row.incident.step == 1
    # Only the new step's timeout is left: the ack expiry went with the abandoned ack stage.
    assert service.timers(incident) == [DueTimer(incident, TimerKind.ACK_TIMEOUT, T0 + 17 * MINUTE, 3)]

    assert sorted(who(pages)) == [("alice", "status"), ("bob", "page")]
    [status] = [p for p in pages if p.person == "alice"]
    assert status.text == (
        f"memoguard #{incident} : disk-full on db-1. "
        "Votre acquittement n'a pas été confirmé sous 10m : l'escalade reprend."
    )
    [page] = [p for p in pages if p.person == "bob"]
    assert page.text == (
        f"memoguard #{incident} critical: disk-full on db-1. Step 2/2, acknowledge within 5m. Then confirm within 10m. "
        "Reply 1a to acknowledge, then 1c to confirm."
    )
    assert service.kinds(incident)[-5:] == ["acknowledged", "confirm_timeout", "paged", "notified", "notified"]
    assert service.notifications(incident)[1:] == [
        ("alice", "status", 0, "confirm_timeout", SENT),
        ("bob", "page", 1, "confirm_timeout", SENT),
    ]


def test_a_quorum_needs_two_distinct_people(service: Service) -> None:
    incident = service.open("quorum")
    assert sorted(who(service.deliver())) == [("alice", "page"), ("bob", "page")]

    service.at(MINUTE)
    service.act(incident, Verb.ACK, "alice")
    before = service.everything(incident)
    service.act(incident, Verb.ACK, "alice")  # the same person again: recorded, counts for nothing
    assert service.kinds(incident)[-2:] == ["ack_partial", "duplicate"]
    after = service.everything(incident)
    assert after[0] == before[0]  # the incident itself is unchanged
    assert after[2:] == before[2:]  # so are its notifications and timers
    assert service.row(incident).incident.acked_by == ("alice",)
    assert service.state(incident) == IncidentState.TRIGGERED

    assert service.at(5 * MINUTE) == 1  # one ack out of two: the escalation carries on
    assert who(service.deliver()) == [("dave", "page")]

    service.at(6 * MINUTE)
    service.act(incident, Verb.ACK, "bob")
    row = service.row(incident)
    assert row.incident.state == IncidentState.ACKNOWLEDGED
    assert row.incident.acked_by == ("alice", "bob")
    assert service.timers(incident) == []
    assert service.at(60 * MINUTE) == 0
    assert service.deliver() == []


def test_the_crisis_cell_is_paged_with_the_bridge_and_repaged_until_its_quorum(service: Service) -> None:
    incident = service.open("crisis")
    assert who(service.deliver()) == [("alice", "page")]

    assert service.at(5 * MINUTE) == 1
    pages = service.deliver()
    assert sorted(who(pages)) == [("erin", "page"), ("gina", "page"), ("hank", "page")]
    assert all(BRIDGE in p.text for p in pages)
    texts = {p.person: p.text for p in pages}
    assert texts["gina"] == (
        f"memoguard CRISIS #{incident} critical: disk-full on db-1. Crisis cell paged, 2 acknowledgement(s) needed. "
        f"Conference bridge: {BRIDGE}. Reply 1a to acknowledge."
    )
    assert texts["erin"].startswith(f"memoguard CRISE #{incident} critical")
    assert "Pont de conférence" in texts["erin"]
    assert "crisis" in service.kinds(incident)

    service.at(7 * MINUTE)
    service.act(incident, Verb.ACK, "erin")
    assert service.state(incident) == IncidentState.TRIGGERED  # one of two
    assert service.kinds(incident)[-1] == "ack_partial"

    assert service.at(15 * MINUTE - timedelta(seconds=1)) == 0
    assert service.at(15 * MINUTE) == 1
    again = service.deliver()
    assert sorted(who(again)) == [("gina", "page"), ("hank", "page")]  # not erin: she acknowledged
    assert all(BRIDGE in p.text for p in again)
    assert "crisis_repeat" in service.kinds(incident)

    service.at(16 * MINUTE)
    service.act(incident, Verb.ACK, "hank")
    row = service.row(incident)
    assert row.incident.state == IncidentState.ACKNOWLEDGED
    assert row.incident.acked_by == ("erin", "hank")
    assert service.timers(incident) == []
    assert service.at(2 * 60 * MINUTE) == 0
    assert service.deliver() == []


def test_an_ack_expires_and_the_incident_is_paged_again(service: Service) -> None:
    incident = service.open("expiry")
    service.deliver()
    service.at(MINUTE)
    service.act(incident, Verb.ACK, "alice")
    assert service.timers(incident) == [DueTimer(incident, TimerKind.ACK_EXPIRY, T0 + 31 * MINUTE, 2)]

    assert service.at(31 * MINUTE - timedelta(seconds=1)) == 0
    assert service.at(31 * MINUTE) == 1
    row = service.row(incident)
    assert row.incident.state == IncidentState.TRIGGERED
    assert row.incident.acked_by == ()
    assert service.timers(incident) == [DueTimer(incident, TimerKind.ACK_TIMEOUT, T0 + 36 * MINUTE, 3)]
    assert service.notifications(incident) == [
        ("alice", "page", 0, "triggered", SENT),
        ("alice", "status", 0, "ack_expired", NotificationStatus.PENDING),
        ("alice", "page", 0, "reack", NotificationStatus.PENDING),
    ]
    pages = service.deliver()
    assert who(pages) == [("alice", "page"), ("alice", "status")]  # pages go out before status messages
    assert pages[0].text == (
        f"memoguard #{incident} critical : disk-full on db-1. Votre acquittement précédent a expiré. "
        "Niveau 1/2, acquittez sous 5m. Répondez 1a pour acquitter."
    )
    assert "ack_expired" in service.kinds(incident)

    service.act(incident, Verb.ACK, "alice")  # she may acknowledge again
    assert service.state(incident) == IncidentState.ACKNOWLEDGED


# --- resolving ----------------------------------------------------------------------------------------


def test_resolving_cancels_pending_notifications_and_timers(service: Service) -> None:
    incident = service.open()  # alice's page is still in the outbox
    assert service.notifications(incident) == [("alice", "page", 0, "triggered", NotificationStatus.PENDING)]

    service.at(MINUTE)
    service.act(incident, Verb.RESOLVE, "alice")
    row = service.row(incident)
    assert row.incident.state == IncidentState.RESOLVED
    assert row.resolved_at == T0 + MINUTE
    assert service.timers(incident) == []
    assert service.notifications(incident) == [("alice", "page", 0, "triggered", NotificationStatus.CANCELLED)]

    assert service.deliver() == []
    assert service.at(2 * 60 * MINUTE) == 0
    assert service.deliver() == []
    assert service.kinds(incident)[-1] == "resolved"


def test_a_duplicate_alarm_attaches_to_the_open_incident(service: Service) -> None:
    incident = service.open()
    service.deliver()
    service.at(MINUTE)
    assert service.alarm() == (Outcome.ATTACHED, incident)
    assert service.deliver() == []
    assert service.row(incident).alarms == 2
    assert service.kinds(incident)[-1] == "alarm_attached"
    assert len(service.notifications(incident)) == 1
    assert service.at(5 * MINUTE) == 1  # the escalation goes on as before
    assert who(service.deliver()) == [("bob", "page")]


def test_a_resolved_alarm_resolves_the_open_incident(service: Service) -> None:
    incident = service.open()
    service.at(MINUTE)
    assert service.alarm(status=AlarmStatus.RESOLVED) == (Outcome.RESOLVED, incident)
    assert service.state(incident) == IncidentState.RESOLVED
    assert service.timers(incident) == []
    assert service.kinds(incident)[-2:] == ["source_resolved", "resolved"]
    assert service.notifications(incident) == [("alice", "page", 0, "triggered", NotificationStatus.CANCELLED)]
    assert service.deliver() == []

    outcome, reopened = service.alarm()  # the same key firing again is a new incident
    assert outcome == Outcome.OPENED
    assert reopened != incident


def test_a_resolved_alarm_leaves_a_sticky_incident_open(service: Service) -> None:
    incident = service.open("sticky")
    service.deliver()
    service.at(MINUTE)
    assert service.alarm(status=AlarmStatus.RESOLVED) == (Outcome.IGNORED, incident)
    assert service.state(incident) == IncidentState.TRIGGERED
    assert service.kinds(incident)[-1] == "source_resolved"
    assert service.row(incident).alarms == 2
    assert service.at(5 * MINUTE) == 1  # still escalating: a person has to resolve it
    assert who(service.deliver()) == [("bob", "page")]


def test_a_resolved_alarm_without_an_open_incident_is_stored_and_ignored(service: Service) -> None:
    assert service.alarm("never-fired", status=AlarmStatus.RESOLVED) == (Outcome.IGNORED, None)
    with service.app.store.read() as unit:
        assert unit.incidents([], 10) == []
    store = service.app.store
    assert isinstance(store, SqlStore)
    with store.engine.connect() as connection:
        stored = connection.execute(select(alarm_t.c.dedup_key, alarm_t.c.status, alarm_t.c.outcome)).all()
    assert [tuple(row) for row in stored] == [("never-fired", "resolved", "ignored")]
    assert service.deliver() == []


# --- who may act --------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", list(Verb))
def test_someone_never_paged_is_refused_and_nothing_changes(service: Service, verb: Verb) -> None:
    incident = service.open()
    service.deliver()
    service.at(MINUTE)
    before = service.everything(incident)
    with pytest.raises(Refused, match="dave"):
        service.act(incident, verb, "dave")  # on call only at step 3
    assert service.everything(incident) == before
    assert service.at(5 * MINUTE) == 1  # the escalation was not disturbed
    assert who(service.deliver()) == [("bob", "page")]


def test_acting_on_a_resolved_incident_is_refused_and_changes_nothing(service: Service) -> None:
    incident = service.open()
    service.act(incident, Verb.RESOLVE, "alice")
    before = service.everything(incident)
    for verb in Verb:
        with pytest.raises(Refused, match="resolved"):
            service.act(incident, verb, "alice")
    assert service.everything(incident) == before


def test_an_unknown_person_is_invalid(service: Service) -> None:
    incident = service.open()
    before = service.everything(incident)
    with pytest.raises(Invalid, match="mallory"):
        service.act(incident, Verb.ACK, "mallory")
    assert service.everything(incident) == before


@pytest.mark.parametrize("incident", ["999999", "not-a-number"])
def test_an_unknown_incident_is_not_found(service: Service, incident: str) -> None:
    service.open()
    with pytest.raises(NotFound):
        service.act(incident, Verb.ACK, "alice")


def test_an_admin_may_ack_without_being_paged(service: Service) -> None:
    incident = service.open()
    service.deliver()
    service.act(incident, Verb.ACK, "root")
    row = service.row(incident)
    assert row.incident.state == IncidentState.ACKNOWLEDGED
    assert row.incident.acked_by == ("root",)
    assert "root" not in row.incident.paged
    assert service.timers(incident) == []
    assert service.at(60 * MINUTE) == 0
    assert service.deliver() == []


# --- overrides ----------------------------------------------------------------------------------------


def test_a_stored_override_pages_carol_for_a_new_incident(service: Service) -> None:
    service.app.overrides.add("ops", "carol", T0, T0 + 4 * 60 * MINUTE, "primary")
    incident = service.open()
    assert who(service.deliver()) == [("carol", "page")]
    assert service.row(incident).incident.roster("ops").overrides == ()  # the copy stays as the YAML said
    assert service.at(5 * MINUTE) == 1
    assert who(service.deliver()) == [("bob", "page")]  # the secondary is still bob


def test_a_stored_override_acts_on_an_incident_opened_before_it(service: Service) -> None:
    """The incident's roster copy predates the override; the override is laid over it at each decision.
    The primary override shows when the incident's current step is paged again (an expired ack), and a
    secondary override when the next step (ops/secondary) is paged."""
    expiring = service.open("expiry", key="expiring")
    escalating = service.open(key="escalating")
    assert sorted(who(service.deliver())) == [("alice", "page"), ("alice", "page")]
    service.act(expiring, Verb.ACK, "alice")

    service.at(MINUTE)
    service.app.overrides.add("ops", "carol", T0 + MINUTE, T0 + 4 * 60 * MINUTE, "primary")
    service.app.overrides.add("ops", "dave", T0 + MINUTE, T0 + 4 * 60 * MINUTE, "secondary")

    assert service.at(5 * MINUTE) == 1
    assert [(p.incident, p.person) for p in service.deliver()] == [(escalating, "dave")]  # not bob
    service.act(escalating, Verb.RESOLVE, "dave")

    assert service.at(30 * MINUTE) == 1  # alice's acknowledgement (given at T0) expires
    assert [(p.incident, p.person, p.purpose) for p in service.deliver()] == [
        (expiring, "carol", "page"),  # re-paged: the current primary, not alice
        (expiring, "alice", "status"),  # who is told that her acknowledgement expired
    ]
    for incident in (expiring, escalating):
        assert service.row(incident).incident.roster("ops").overrides == ()


# --- time ---------------------------------------------------------------------------------------------


def test_after_a_long_outage_every_overdue_timer_fires_once_in_due_order(service: Service) -> None:
    double = service.open("double", key="double")  # ack at +1m: confirm due +11m, expiry +61m
    service.at(MINUTE)
    service.act(double, Verb.ACK, "alice")
    service.at(2 * MINUTE)
    expiry = service.open("expiry", key="expiry")  # ack at +3m: expiry due +33m
    service.at(3 * MINUTE)
    service.act(expiry, Verb.ACK, "alice")
    service.at(4 * MINUTE)
    simple = service.open(key="simple")  # step 1 times out at +9m
    service.deliver()

    # Nothing ran for two hours. Four timers are overdue; they were written in another order than due.
    assert service.at(2 * 60 * MINUTE) == 4
    assert service.at(2 * 60 * MINUTE) == 0

    with service.app.store.read() as unit:
        fired = sorted(
            (entry.id, entry.incident, entry.kind, entry.at)
            for incident in (double, expiry, simple)
            for entry in unit.timeline(incident)
            if entry.kind in ("ack_timeout", "confirm_timeout", "ack_expired")
        )
    late = T0 + 2 * 60 * MINUTE
    assert [(incident, kind, at) for _, incident, kind, at in fired] == [
        (simple, "ack_timeout", late),  # due +9m
        (double, "confirm_timeout", late),  # due +11m
        (expiry, "ack_expired", late),  # due +33m; double's expiry (+61m) was fenced off by its confirm timeout
    ]

    pages = service.notifications(simple) + service.notifications(double) + service.notifications(expiry)
    steps = [(person, step, reason) for person, purpose, step, reason, _ in pages if purpose == "page"]
    assert steps == [
        ("alice", 0, "triggered"),
        ("bob", 1, "ack_timeout"),
        ("alice", 0, "triggered"),
        ("bob", 1, "confirm_timeout"),
        ("alice", 0, "triggered"),
        ("alice", 0, "reack"),
    ]
    # Each step paged then gets its full ack window from now, not from when it was due.
    for incident in (simple, double, expiry):
        assert [t.due_at for t in service.timers(incident)] == [late + 5 * MINUTE]
    assert sorted(who(service.deliver())) == [
        ("alice", "page"),
        ("alice", "status"),
        ("alice", "status"),
        ("bob", "page"),
        ("bob", "page"),
    ]


# --- languages ----------------------------------------------------------------------------------------


def test_pages_are_written_in_each_persons_language(service: Service) -> None:
    incident = service.open()
    [alice] = service.deliver()
    assert (alice.person, alice.channel) == ("alice", "sms")  # her first channel of the step's sms+email
    assert alice.text == (
        f"memoguard #{incident} critical : disk-full on db-1. Niveau 1/3, acquittez sous 5m. "
        "Répondez 1a pour acquitter."  # her reply code for this incident
    )

    service.at(5 * MINUTE)
    [bob] = service.deliver()
    assert bob.person == "bob"
    assert bob.text == (
        f"memoguard #{incident} critical: disk-full on db-1. Escalated: nobody acknowledged the previous step. "
        "Step 2/3, acknowledge within 5m. Reply 1a to acknowledge."
    )
