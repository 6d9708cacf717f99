"""Incident events to outbound providers, end to end: the application (ingest, actions, dispatcher) over real
loopback HTTP to the Zendesk-compatible helpdesk (tests/support/helpdesk.py) and to the webhook receiver
(tests/support/receiver.py). memoguard and the helpdesk share one fake clock, so the helpdesk's per-minute
and per-day quotas run on the same time as memoguard's rate limits and nothing ever sleeps.

What DESIGN §5 and its CRM rate-limit note ask: calls beyond the quota are queued and go out as soon as the
API accepts again, batching reduces the calls; nothing is lost, nothing is created twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from memoguard import bootstrap
from memoguard.adapters.storage.outbox import notification_t
from memoguard.adapters.storage.store import SqlStore
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.record import OUTBOUND, Alarm, AlarmStatus, Notification, NotificationStatus, TimelineEntry
from tests.conftest import T0, FakeClock
from tests.support.helpdesk import Helpdesk, Request, Ticket, _Answer
from tests.support.receiver import Receiver

FIXTURE = Path(__file__).parents[1] / "fixtures" / "outbound"
UNUSED = "{kind: webhook, url: 'http://127.0.0.1:9/unused'}"  # the provider a test does not exercise
CREATE_MANY = "/api/v2/tickets/create_many.json"
SECRET_ENV = "MEMOGUARD_TEST_HOOKS_SECRET"
SECRET = "whsec-outbound-7f3a"


# --- harness ------------------------------------------------------------------------------------------


class RecordingHelpdesk(Helpdesk):
    """The helpdesk, also noting each answer that carried Retry-After (429, or an injected 503): its index in
    ``requests``, when, and the seconds it asked for."""

    def __init__(self, clock: FakeClock, **quotas: Any) -> None:
        super().__init__(clock, **quotas)
        self.throttles: list[tuple[int, datetime, int]] = []
        self._noted = threading.Lock()

    def __enter__(self) -> RecordingHelpdesk:
        super().__enter__()
        return self

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        with self._noted:  # serve() appends to requests under its own lock: this keeps the index right
            answer = super().serve(method, target, headers, body)
            if answer.status in (429, 503) and "Retry-After" in answer.headers:
                self.throttles.append(
                    (len(self.requests) - 1, self.requests[-1].at, int(answer.headers["Retry-After"]))
                )
            return answer


def configure(tmp_path: Path, database_url: str, *, helpdesk: str = UNUSED, hooks: str = UNUSED) -> Path:
    """tests/fixtures/outbound in a temporary directory, with the database and both outbound providers."""
    target = tmp_path / "config"
    shutil.copytree(FIXTURE, target)
    main = target / "memoguard.yaml"
    text = main.read_text(encoding="utf-8")
    assert text.rstrip().splitlines()[-1].startswith("  console:"), "providers: must stay the fixture's last key"
    main.write_text(f"database: {database_url}\n{text}  helpdesk: {helpdesk}\n  hooks: {hooks}\n", encoding="utf-8")
    return target


def zendesk(url: str, rate: list[str] | None = None, batch: int = 100) -> str:
    rates = ", ".join(f'"{r}"' for r in rate or [])
    return f"{{kind: zendesk, url: '{url}', rate: [{rates}], batch: {batch}, poll_every: 2s}}"


@contextmanager
def running(directory: Path, clock: FakeClock) -> Iterator[Application]:
    app = bootstrap.application(bootstrap.load(directory), clock)
    try:
        yield app
    finally:
        app.dispatcher.close()  # the providers' pooled sockets, or a ResourceWarning (an error here)
        app.store.close()


def open_incidents(
    app: Application, count: int, *, prefix: str = "disk", labels: dict[str, str] | None = None
) -> list[str]:
    alarms = [
        Alarm(
            "monitoring",
            f"{prefix}-{i}",
            AlarmStatus.FIRING,
            "critical",
            f"{prefix} {i} full on db-prod",
            labels=labels or {},
        )
        for i in range(count)
    ]
    incidents = [receipt.incident for receipt in app.ingest.receive(alarms)]
    assert None not in incidents and len(set(incidents)) == count
    return [i for i in incidents if i is not None]


def act(app: Application, incident: str, verb: Verb) -> None:
    app.actions.act(incident, verb, "alice", "api")


def future_due(app: Application) -> datetime | None:
    """The earliest time after now at which a waiting row may go. Not ``next_notification_due``: that one
    also counts rows held behind an earlier event of their incident, whose time may be long past."""
    store = app.store
    assert isinstance(store, SqlStore)
    n = notification_t.c
    query = select(func.min(n.not_before)).where(
        n.status.in_([NotificationStatus.PENDING.value, NotificationStatus.SUBMITTED.value]),
        n.not_before > app.clock.now(),
    )
    with store.engine.connect() as connection:
        value: datetime | None = connection.execute(query).scalar_one_or_none()
    return value


def settle(app: Application, clock: FakeClock, *, rounds: int = 2000) -> int:
    """Drain, then jump the clock to the next time something may go, until nothing waits. Returns how
    many times the clock was moved."""
    jumps = 0
    for _ in range(rounds):
        seen = app.dispatcher.drain_all()
        if seen:
            continue  # what it sent may have unblocked the next event of an incident: look again now
        due = future_due(app)
        if due is None:
            return jumps
        clock.advance(due - clock.now())
        jumps += 1
    raise AssertionError(f"the outbox did not settle within {rounds} rounds")


def rows(app: Application, incidents: list[str]) -> dict[str, list[Notification]]:
    """Each incident's outbound rows, oldest first."""
    with app.store.read() as unit:
        return {i: [n for n in unit.notifications(i) if n.purpose in OUTBOUND] for i in incidents}


def timeline(app: Application, incident: str) -> list[TimelineEntry]:
    with app.store.read() as unit:
        return unit.timeline(incident)


def kinds(app: Application, incident: str) -> list[str]:
    return [entry.kind for entry in timeline(app, incident)]


def by_external_id(desk: Helpdesk) -> dict[str, Ticket]:
    tickets = {t.external_id: t for t in desk.tickets.values() if t.external_id is not None}
    assert len(tickets) == len(desk.tickets), "two tickets share an external_id, or one has none"
    return tickets


def external(incident: str) -> str:
    return f"memoguard-incident-{incident}"


def most_in_window(requests: list[Request], span: timedelta) -> int:
    """The most requests within any closed window of ``span`` (both ends in), as a sender honouring
    "N per span" must keep at or below N."""
    times = sorted(r.at for r in requests)
    best = 0
    for last, end in enumerate(times):
        best = max(best, last - bisect_left(times, end - span) + 1)
    return best


def early_after_retry_after(desk: RecordingHelpdesk) -> list[str]:
    """Requests that reached the helpdesk before the Retry-After of an earlier 429 (or 503) had elapsed,
    each once, naming the answer it ignored."""
    early: dict[int, str] = {}
    for index, at, seconds in desk.throttles:
        until = at + timedelta(seconds=seconds)
        for later in range(index + 1, len(desk.requests)):
            r = desk.requests[later]
            if r.at < until and later not in early:
                early[later] = (
                    f"{r.method} {r.path} at {r.at:%d %H:%M:%S.%f} (HTTP {r.status}), after HTTP "
                    f"{desk.requests[index].status} at {at:%d %H:%M:%S.%f} with Retry-After: {seconds}"
                )
    return [early[index] for index in sorted(early)]


def event_of(row: Notification) -> dict[str, Any]:
    assert row.payload is not None
    document: dict[str, Any] = json.loads(row.payload)
    return document


# --- 1. the acceptance test: 250 incidents through per-minute and per-day quotas --------------------------


@dataclass(frozen=True)
class Quotas:
    per_minute: int
    per_day: int


CONFIGURED = Quotas(per_minute=20, per_day=100)


@pytest.mark.slow
@pytest.mark.parametrize(
    "server",
    [
        pytest.param(Quotas(per_minute=20, per_day=100), id="server-quota-as-configured"),
        pytest.param(Quotas(per_minute=15, per_day=90), id="server-quota-tighter-than-configured"),
    ],
)
def test_250_incidents_reach_the_helpdesk_once_each_within_its_quotas(
    tmp_path: Path, database_url: str, server: Quotas
) -> None:
    clock = FakeClock(T0 + timedelta(seconds=15))  # mid-minute: the helpdesk's minute windows are calendar ones
    with RecordingHelpdesk(clock, per_minute=server.per_minute, per_day=server.per_day) as desk:
        rate = [f"{CONFIGURED.per_minute}/min", f"{CONFIGURED.per_day}/day"]
        directory = configure(tmp_path, database_url, helpdesk=zendesk(desk.url, rate, batch=100))
        with running(directory, clock) as app:
            incidents = open_incidents(app, 250)
            acked, resolved = incidents[0:80], incidents[40:120]
            for incident in acked:
                act(app, incident, Verb.ACK)
            for incident in resolved:
                act(app, incident, Verb.RESOLVE)

            settle(app, clock)

            outbound = rows(app, incidents)
            tickets = by_external_id(desk)

    # Exactly one ticket per incident, and no other.
    assert sorted(tickets) == sorted(external(i) for i in incidents)
    assert len(desk.tickets) == 250
    # Nothing lost: every event went out, in the order it happened.
    for incident in incidents:
        expected = ["triggered"]
        expected += ["acknowledged"] if incident in acked else []
        expected += ["resolved"] if incident in resolved else []
        assert [event_of(r)["event"] for r in outbound[incident]] == expected, incident
        assert [r.status for r in outbound[incident]] == [NotificationStatus.SENT] * len(expected), incident
    # Each to its own incident's ticket.
    wrong = {
        incident: f"refs {[r.reference for r in outbound[incident]]}, ticket {tickets[external(incident)].id}"
        for incident in incidents
        if {r.reference for r in outbound[incident]} != {str(tickets[external(incident)].id)}
    }
    assert wrong == {}, f"{len(wrong)} incidents' events went to another incident's ticket"
    # Updates applied: one internal comment per event, in order, with the event's text; the status follows.
    for incident in incidents:
        ticket, events = tickets[external(incident)], outbound[incident]
        assert [c.body for c in ticket.comments[1:]] == [event_of(r)["text"] for r in events[1:]], incident
        assert not any(c.public for c in ticket.comments)
        if incident in resolved:
            assert ticket.status == "solved", incident
        elif incident in acked:
            assert (ticket.status, ticket.comments[1].body.startswith("alice acknowledged")) == ("open", True)
        else:
            assert ticket.status == "new", incident

    # Creates are batched: every create went through create_many, none over 100, far fewer calls than tickets.
    creates = [r for r in desk.requests if r.method == "POST"]
    assert all(r.path == CREATE_MANY for r in creates)
    assert desk.violations == []
    assert all(1 <= size <= 100 for size in desk.batch_sizes)
    assert sum(desk.batch_sizes) == 250
    assert len(desk.batch_sizes) <= 6
    updates = [r for r in desk.requests if r.method == "PUT" and r.status == 200]
    assert len(updates) == len(acked) + len(resolved)

    # The configured quotas hold as the helpdesk saw the calls (refused ones included: they are calls too).
    assert most_in_window(desk.requests, timedelta(minutes=1)) <= CONFIGURED.per_minute
    assert most_in_window(desk.requests, timedelta(days=1)) <= CONFIGURED.per_day
    # The day quota did bite: more calls than one day allows, so the run crossed into the next 24 hours.
    assert len(desk.requests) > CONFIGURED.per_day
    assert desk.requests[-1].at - desk.requests[0].at > timedelta(days=1)

    if server == CONFIGURED:
        assert desk.rejected == 0, "memoguard went over quotas equal to its own"
    else:
        assert desk.rejected > 0, "a helpdesk stricter than the configuration must have said 429"
        assert early_after_retry_after(desk) == []


# --- 2. one incident's ticket, event by event ----------------------------------------------------------


def test_a_ticket_follows_its_incident_and_updates_wait_for_the_batched_create(
    tmp_path: Path, database_url: str
) -> None:
    clock = FakeClock(T0)
    with RecordingHelpdesk(clock, job_polls_until_done=2) as desk:
        directory = configure(tmp_path, database_url, helpdesk=zendesk(desk.url))
        with running(directory, clock) as app:
            [incident] = open_incidents(app, 1)

            app.dispatcher.drain_all()  # the create goes out in a batch job that stays queued for two polls
            assert desk.batch_sizes == [1]
            assert desk.tickets == {}
            [create] = rows(app, [incident])[incident]
            assert create.status == NotificationStatus.SUBMITTED

            act(app, incident, Verb.ACK)
            app.dispatcher.drain_all()
            assert [(r.method, r.path) for r in desk.requests] == [("POST", CREATE_MANY)], "the update did not wait"

            clock.advance(timedelta(seconds=2))
            app.dispatcher.drain_all()  # first poll: still queued
            act(app, incident, Verb.RESOLVE)
            clock.advance(timedelta(seconds=2))
            app.dispatcher.drain_all()  # second poll: still queued
            assert desk.tickets == {}
            assert [r.method for r in desk.requests] == ["POST", "GET", "GET"]

            clock.advance(timedelta(seconds=2))
            app.dispatcher.drain_all()  # third poll: created, as the incident was when it triggered
            [ticket] = desk.tickets.values()
            assert ticket.external_id == external(incident)
            assert ticket.status == "new"
            assert ticket.subject == f"[memoguard #{incident}] disk 0 full on db-prod"
            assert ticket.priority == "urgent"
            assert [r.method for r in desk.requests] == ["POST", "GET", "GET", "GET"]

            app.dispatcher.drain_all()  # the acknowledgement, now that the ticket exists
            assert ticket.status == "open"
            assert len(ticket.comments) == 2
            assert "acknowledged" in ticket.comments[1].body and "alice" in ticket.comments[1].body

            app.dispatcher.drain_all()  # then the resolution
            assert ticket.status == "solved"
            assert len(ticket.comments) == 3
            assert ticket.comments[2].body.startswith("Resolved by alice")

            assert app.dispatcher.drain_all() == 0
            assert [(r.method, r.path, r.status) for r in desk.requests[4:]] == [
                ("PUT", f"/api/v2/tickets/{ticket.id}.json", 200),
                ("PUT", f"/api/v2/tickets/{ticket.id}.json", 200),
            ]
            outbound = rows(app, [incident])[incident]
            assert [event_of(r)["event"] for r in outbound] == ["triggered", "acknowledged", "resolved"]
            assert [r.reference for r in outbound] == [str(ticket.id)] * 3
            notified = [e.text for e in timeline(app, incident) if e.kind == "notified" and "helpdesk" in e.text]
            assert len(notified) == 3
            assert all(f"(ref {ticket.id})" in text for text in notified)
            assert ["(triggered)" in notified[0], "(acknowledged)" in notified[1], "(resolved)" in notified[2]] == [
                True,
                True,
                True,
            ]
            assert kinds(app, incident).count("delivery_submitted") == 1


def test_an_event_waiting_for_its_ticket_does_not_make_the_dispatcher_spin(tmp_path: Path, database_url: str) -> None:
    """While an update waits behind its incident's create (a batch job polled every 2 s), the outbox's next
    due time is when something can actually go (the poll), not the waiting update's own past time: the
    engine's dispatcher loop sleeps until ``next_notification_due`` and would otherwise loop without pause
    for as long as the job runs (or, behind a spent day quota, for hours)."""
    clock = FakeClock(T0)
    with RecordingHelpdesk(clock, job_polls_until_done=5) as desk:
        directory = configure(tmp_path, database_url, helpdesk=zendesk(desk.url))
        with running(directory, clock) as app:
            [incident] = open_incidents(app, 1)
            app.dispatcher.drain_all()
            act(app, incident, Verb.ACK)
            clock.advance(timedelta(milliseconds=500))

            assert app.dispatcher.drain_all() == 0  # nothing can go: the ack waits for the ticket
            with app.store.read() as unit:
                due = unit.next_notification_due()
            assert due is not None
            assert due >= T0 + timedelta(seconds=2), f"next_notification_due is {due}, already past at {clock.now()}"


# --- 3. webhook ---------------------------------------------------------------------------------------


def test_webhook_events_arrive_signed_in_order_with_one_idempotency_key_each(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    clock = FakeClock(T0)
    with Receiver(secret=SECRET, clock=clock) as receiver:
        hooks = f"{{kind: webhook, url: '{receiver.url}', secret_env: {SECRET_ENV}}}"
        directory = configure(tmp_path, database_url, hooks=hooks)
        with running(directory, clock) as app:
            [incident] = open_incidents(app, 1, prefix="api", labels={"policy": "hooks"})
            act(app, incident, Verb.ACK)
            clock.advance(timedelta(seconds=1))
            act(app, incident, Verb.RESOLVE)
            receiver.fail(503)  # the first event has to be retried: the later ones must not overtake it

            settle(app, clock)
            outbound = rows(app, [incident])[incident]

    assert receiver.failed == 1
    assert receiver.rejected == 0
    accepted = receiver.accepted()
    assert [r.json["event"]["event"] for r in accepted] == ["triggered", "acknowledged", "resolved"]
    assert [r.json["event"]["incident"]["state"] for r in accepted] == ["triggered", "acknowledged", "resolved"]
    assert [r.json["event"]["by"] for r in accepted] == [None, "alice", "alice"]
    assert all(r.json["event"]["incident"]["id"] == incident for r in accepted)
    assert all(r.json["incident"] == incident and r.json["kind"] == "webhook" for r in accepted)
    assert [r.json["event"]["incident"]["acked_by"] for r in accepted] == [[], ["alice"], ["alice"]]
    # The body carries the event document as memoguard stored it when the event happened.
    assert [r.json["event"] for r in accepted] == [event_of(row) for row in outbound]
    assert [r.json["id"] for r in accepted] == [row.id for row in outbound]
    # One Idempotency-Key per event, the same as the body's key; the failed attempt was the same message.
    keys = [r.headers["Idempotency-Key"] for r in accepted]
    assert keys == [f"memoguard-{row.id}" for row in outbound]
    assert len(set(keys)) == 3
    assert [r.json["key"] for r in accepted] == keys
    assert receiver.requests()[0].headers["Idempotency-Key"] == keys[0]
    # Signatures, checked here by hand from the documented scheme, not with memoguard's own verify().
    for request in accepted:
        timestamp = request.headers["X-Memoguard-Timestamp"]
        mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Memoguard-Signature"] == f"sha256={mac}"
        assert abs(int(timestamp) - clock.now().timestamp()) < 60
    assert [r.status for r in outbound] == [NotificationStatus.SENT] * 3
    assert [r.reference for r in outbound] == [str(r.seq) for r in accepted]


# --- 4. the helpdesk down for a while -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after", "kind"),
    [
        pytest.param(503, None, "delivery_retry", id="503"),
        pytest.param(503, 20, "delivery_throttled", id="503-retry-after"),
        pytest.param(429, 45, "delivery_throttled", id="429-retry-after"),
    ],
)
def test_a_helpdesk_down_for_a_while_gets_everything_once_it_is_back(
    tmp_path: Path, database_url: str, status: int, retry_after: int | None, kind: str
) -> None:
    clock = FakeClock(T0)
    with RecordingHelpdesk(clock) as desk:
        directory = configure(tmp_path, database_url, helpdesk=zendesk(desk.url))
        with running(directory, clock) as app:
            incidents = open_incidents(app, 3)
            desk.fail_next(3, status, retry_after)  # the create_many, three times
            jumps = settle(app, clock)
            created = by_external_id(desk)
            during_creates = {i: [e for e in timeline(app, i) if e.kind == kind] for i in incidents}

            [first, *_] = incidents
            act(app, first, Verb.ACK)
            desk.fail_next(2, status, retry_after)  # and the update, twice
            settle(app, clock)
            outbound = rows(app, incidents)
            histories = {i: timeline(app, i) for i in incidents}

    # Nothing lost, nothing twice.
    assert sorted(created) == sorted(external(i) for i in incidents)
    assert len(desk.tickets) == 3
    assert sum(desk.batch_sizes) == 3
    ticket = created[external(first)]
    assert ticket.status == "open" and len(ticket.comments) == 2
    assert [r.status for r in desk.requests].count(status) == 5
    assert desk.requests[-1].method == "PUT" and desk.requests[-1].status == 200
    assert jumps >= 3  # it waited for the helpdesk, it did not give up
    for incident in incidents:
        assert all(r.status == NotificationStatus.SENT for r in outbound[incident])
        # Every failed attempt is on the timeline, saying what the helpdesk answered.
        assert during_creates[incident], f"no {kind} on incident {incident}'s timeline"
        retries = [e for e in histories[incident] if e.kind == kind]
        assert all(f"HTTP {status}" in e.text and "helpdesk" in e.text for e in retries)
        assert len(retries) - len(during_creates[incident]) == (2 if incident == first else 0)
        # And memoguard's timeline names the ticket each event went to.
        ticket_id = created[external(incident)].id
        notified = [e.text for e in histories[incident] if e.kind == "notified" and e.text.startswith("Ticket")]
        assert len(notified) == (2 if incident == first else 1)
        assert all(f"sent to helpdesk (ref {ticket_id})" in text for text in notified)
    if retry_after is not None:
        # Held as a whole: the batch failed three times together, and nothing went before Retry-After.
        assert desk.batch_sizes == [3]
        assert all(len(entries) == 3 for entries in during_creates.values())
        assert len(desk.throttles) == 5
        assert early_after_retry_after(desk) == []


def test_a_batch_that_failed_is_submitted_again_as_one_batch(tmp_path: Path, database_url: str) -> None:
    """One transient failure of a create_many must not undo the batching: retrying each of its rows on
    its own jittered backoff scatters them, and 20 tickets then cost 20 create_many calls of 1 (100 for a
    full batch) against the helpdesk's per-minute and per-day quotas."""
    clock = FakeClock(T0)
    with RecordingHelpdesk(clock) as desk:
        directory = configure(tmp_path, database_url, helpdesk=zendesk(desk.url))
        with running(directory, clock) as app:
            incidents = open_incidents(app, 20)
            desk.fail_next(1, 503)
            settle(app, clock)
            outbound = rows(app, incidents)

    assert sorted(by_external_id(desk)) == sorted(external(i) for i in incidents)
    assert all(row.status == NotificationStatus.SENT for i in incidents for row in outbound[i])
    creates = [r for r in desk.requests if r.path == CREATE_MANY]
    assert [r.status for r in creates] == [503, 200], f"create_many sizes after the 503: {desk.batch_sizes}"
    assert desk.batch_sizes == [20]


def test_tickets_of_a_job_polled_over_several_rounds_keep_their_own_ids(tmp_path: Path, database_url: str) -> None:
    """150 incidents: 150 pages, then two create_many jobs (50 and 100 tickets) submitted at the same
    instant, so their 150 rows are due for polling at the same time and a dispatch round (100 rows) takes
    the second job in two parts. Each part must get its own tickets' ids, not the job's first results."""
    clock = FakeClock(T0)
    with RecordingHelpdesk(clock) as desk:
        directory = configure(tmp_path, database_url, helpdesk=zendesk(desk.url))
        with running(directory, clock) as app:
            incidents = open_incidents(app, 150)
            settle(app, clock)
            last = incidents[-1]
            act(app, last, Verb.RESOLVE)
            settle(app, clock)
            outbound = rows(app, incidents)

    tickets = by_external_id(desk)
    assert sorted(tickets) == sorted(external(i) for i in incidents)
    wrong = {
        incident: f"ref {outbound[incident][0].reference}, ticket {tickets[external(incident)].id}"
        for incident in incidents
        if outbound[incident][0].reference != str(tickets[external(incident)].id)
    }
    assert wrong == {}, f"{len(wrong)} incidents hold another incident's ticket id"
    # What that costs: the resolution went to another incident's ticket.
    assert tickets[external(last)].status == "solved"
    assert [t.external_id for t in desk.tickets.values() if t.status == "solved"] == [external(last)]


def test_after_a_429_no_call_reaches_the_helpdesk_before_retry_after(tmp_path: Path, database_url: str) -> None:
    """No rate is configured: the helpdesk's 429 is the only brake. Ten updates are planned in one round;
    the helpdesk takes four (with the create and its poll, its six a minute) and says 429, Retry-After:
    43. The other calls of that round must wait too, rather than go and be refused one after another."""
    clock = FakeClock(T0 + timedelta(seconds=15))
    with RecordingHelpdesk(clock, per_minute=6) as desk:
        directory = configure(tmp_path, database_url, helpdesk=zendesk(desk.url))
        with running(directory, clock) as app:
            incidents = open_incidents(app, 10)
            settle(app, clock)
            for incident in incidents:
                act(app, incident, Verb.ACK)
            settle(app, clock)
            outbound = rows(app, incidents)

    tickets = by_external_id(desk)
    assert all(tickets[external(i)].status == "open" and len(tickets[external(i)].comments) == 2 for i in incidents)
    assert all(r.status == NotificationStatus.SENT for i in incidents for r in outbound[i])
    assert desk.throttles, "the helpdesk never said 429"
    assert desk.throttles[0][2] == 43
    assert early_after_retry_after(desk) == []
    assert desk.rejected == 1


# --- 5. one ticket refused in a batch job -------------------------------------------------------------


def test_a_ticket_refused_in_a_batch_fails_alone(tmp_path: Path, database_url: str) -> None:
    clock = FakeClock(T0)
    with RecordingHelpdesk(clock) as desk:
        directory = configure(tmp_path, database_url, helpdesk=zendesk(desk.url))
        with running(directory, clock) as app:
            incidents = open_incidents(app, 2, prefix="disk")
            [refused] = open_incidents(app, 1, prefix="REJECT")
            incidents += open_incidents(app, 2, prefix="cpu")

            settle(app, clock)
            outbound = rows(app, [*incidents, refused])
            history = kinds(app, refused)
            errors = [e.text for e in timeline(app, refused) if e.kind == "delivery_error"]
            others = {i: kinds(app, i) for i in incidents}
            timeline_texts = [e.text for e in timeline(app, refused) if e.kind == "notified"]

    assert desk.batch_sizes == [5], "one job for the five tickets, and the refused one is not submitted again"
    created = by_external_id(desk)
    assert sorted(created) == sorted(external(i) for i in incidents)
    [row] = outbound[refused]
    assert row.status == NotificationStatus.FAILED
    assert row.error is not None and "TicketCreateFailed" in row.error
    assert history.count("delivery_error") == 1
    assert "helpdesk" in errors[0] and "TicketCreateFailed" in errors[0]
    assert not [e for e in timeline_texts if e.startswith("Ticket")], "the refused ticket is not notified"
    for incident in incidents:
        [ok] = outbound[incident]
        assert ok.status == NotificationStatus.SENT
        assert ok.reference == str(created[external(incident)].id)
        assert "delivery_error" not in others[incident]
        assert others[incident].count("notified") == 2  # its page, and its ticket


def test_quota_helpers_count_closed_windows() -> None:
    """The window arithmetic the acceptance test relies on, on hand-made times."""
    at = [T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=60), T0 + timedelta(seconds=61)]
    requests = [Request(t, "GET", "/", 200) for t in at]
    assert most_in_window(requests, timedelta(minutes=1)) == 3  # T0, +30, +60: both ends count
    assert most_in_window(requests, timedelta(seconds=30)) == 2
    assert most_in_window([], timedelta(days=1)) == 0
