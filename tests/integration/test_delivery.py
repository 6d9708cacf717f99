"""The dispatcher (memoguard/services/dispatch/) against the database, on the fake clock: retries with
jittered backoff, failover to the channel's next provider and then to the person's next channel,
throttling, rate limits, priorities, storm bundles, policy notices and claims left by a dead dispatcher.

The providers are the recording fakes of tests/support/delivery.py: they record every call (with the fake
time) and fail when told to, with the ``DeliveryError`` a real adapter would raise. Nothing sleeps: time
moves only by ``FakeClock.advance``.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from memoguard.adapters.storage.store import SqlStore
from memoguard.config.problem import ConfigError
from memoguard.domain.event import TimerKind
from memoguard.domain.incident import IncidentState
from memoguard.services.action import Outcome, Verb
from memoguard.services.dispatch import LEASE
from memoguard.services.error import Refused
from memoguard.services.provider import DeliveryError, Message
from memoguard.services.record import NotificationStatus
from tests.conftest import T0
from tests.support.claims import end_claimant_session
from tests.support.delivery import (
    CONSOLE_ONLY,
    PENDING,
    SEED,
    SENT,
    TWO_SMS_PROVIDERS,
    Builder,
    FakeProvider,
    World,
)


def times(provider: FakeProvider) -> list[datetime]:
    return [at for at, _ in provider.sent]


# --- retries ------------------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_growing_jittered_backoff_then_sent_once(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    console.failures = [DeliveryError("timeout", retryable=True) for _ in range(3)]
    [incident] = w.open("db-1")
    same_draws = random.Random(SEED)  # the dispatcher's random draws, replayed

    waits: list[timedelta] = []
    for attempt in (1, 2, 3):
        failed_at = w.clock.now()
        assert w.settle() == 1
        wait = timedelta(seconds=same_draws.uniform(2 ** (attempt - 1), 2**attempt))  # half to all of 2^n s
        row = w.row(incident)
        assert (row.status, row.attempts, row.not_before) == (PENDING, attempt, failed_at + wait)
        assert row.error == "timeout"
        w.clock.advance(wait - timedelta(milliseconds=1))
        assert w.settle() == 0  # not before its backoff is over
        w.clock.advance(timedelta(milliseconds=1))
        waits.append(wait)
    assert w.settle() == 1

    assert waits[0] < waits[1] < waits[2]
    row = w.row(incident)
    assert (row.status, row.provider, row.attempts, row.sent_at) == (SENT, "console", 3, w.clock.now())
    assert [m.id for _, m in console.sent] == [row.id]  # delivered exactly once
    assert [m.key for _, m in console.calls] == [f"memoguard-{row.id}"] * 4  # same idempotency key each time
    retries = w.timeline(incident, "delivery_retry")
    failed = [T0 + sum(waits[:i], timedelta()) for i in range(3)]
    assert [e.text for e in retries] == [
        f"Page #{row.id}: sms to alice via console failed (timeout); held until "
        f"{(at + wait):%Y-%m-%d %H:%M:%S} UTC, retrying in {wait.total_seconds():.1f}s"
        for at, wait in zip(failed, waits, strict=True)
    ]
    assert w.kinds(incident)[-1] == "notified"
    with w.app.store.read() as unit:
        state = unit.provider_state("console")
    assert state.failing_since is None  # recovered
    assert state.last_error == "timeout"
    assert state.last_success_at == w.clock.now()


# --- failover -----------------------------------------------------------------------------------------


def test_a_provider_down_past_the_channel_deadline_fails_over_to_the_next_provider(build: Builder) -> None:
    w = build(TWO_SMS_PROVIDERS, ("console", "backup", "mailer"))
    console, backup = w.providers["console"], w.providers["backup"]
    console.fail = lambda _: DeliveryError("link down", retryable=True)
    [incident] = w.open("db-1")

    w.run()

    tries = [at for at, _ in console.calls]
    deadline = T0 + timedelta(minutes=1)
    assert tries[0] == T0
    assert all(at < deadline for at in tries[:-1])  # retried while within the deadline...
    assert tries[-1] >= deadline  # ...and the first failure past it fails over
    assert len(tries) >= 5
    row = w.row(incident)
    assert (row.status, row.provider, row.provider_index, row.channel) == (SENT, "backup", 1, "sms")
    assert times(backup) == [tries[-1]]  # the backup is tried at once
    assert [m.id for _, m in backup.sent] == [row.id]
    assert len(w.timeline(incident, "delivery_retry")) == len(tries) - 1
    [failover] = w.timeline(incident, "delivery_failover")
    assert failover.at == tries[-1]
    assert failover.text == (
        f"Page #{row.id}: sms to alice via console failed "
        "(link down; still failing after the channel's deadline); trying backup"
    )
    assert w.providers["mailer"].calls == []


def test_the_failover_comes_when_the_deadline_is_up_not_a_whole_backoff_later(build: Builder) -> None:
    """``deadline: 1m``: transient failures of one provider are retried for a minute "before the next one
    is tried" (ChannelModel), so the backup gets the page about a minute after the first failure. A retry
    drawn across the deadline (32 to 64 s after a failure at ~40 s) must not push the failover to ~1m30."""
    w = build(TWO_SMS_PROVIDERS, ("console", "backup", "mailer"))
    w.providers["console"].fail = lambda _: DeliveryError("link down", retryable=True)
    [incident] = w.open("db-1")

    w.run()

    assert w.row(incident).provider == "backup"
    [(handed_over, _)] = w.providers["backup"].sent
    assert handed_over <= T0 + timedelta(minutes=1, seconds=2)


def test_a_permanent_failure_fails_over_at_once(build: Builder) -> None:
    w = build(TWO_SMS_PROVIDERS, ("console", "backup", "mailer"))
    console, backup = w.providers["console"], w.providers["backup"]
    console.failures = [DeliveryError("invalid number", retryable=False)]
    [incident] = w.open("db-1")

    w.settle()

    row = w.row(incident)
    assert (row.status, row.provider, row.sent_at) == (SENT, "backup", T0)
    assert len(console.calls) == 1
    assert times(backup) == [T0]
    assert "delivery_retry" not in w.kinds(incident)
    [failover] = w.timeline(incident, "delivery_failover")
    assert failover.text == f"Page #{row.id}: sms to alice via console failed (invalid number); trying backup"


@pytest.mark.parametrize(
    ("preference", "order"),
    [("[sms, email]", ("sms", "email")), ("[email, sms]", ("email", "sms"))],
)
def test_when_every_provider_of_a_channel_fails_the_persons_next_channel_is_tried(
    build: Builder, preference: str, order: tuple[str, str]
) -> None:
    w = build(TWO_SMS_PROVIDERS, ("console", "backup", "mailer"), alice=preference)
    serving = {"sms": ("console", "backup"), "email": ("mailer",)}
    for name in serving[order[0]]:
        w.providers[name].fail = lambda _, name=name: DeliveryError(f"{name} rejects the number", retryable=False)
    [incident] = w.open("db-1")  # policy simple: step 1 pages alice on [sms, email]

    w.settle()

    row = w.row(incident)
    assert row.channels == order  # alice's preference, not the step's order
    assert (row.status, row.channel, row.provider) == (SENT, order[1], serving[order[1]][0])
    assert [len(w.providers[name].calls) for name in serving[order[0]]] == [1] * len(serving[order[0]])
    failovers = [e.text for e in w.timeline(incident, "delivery_failover")]
    assert [text.rsplit("; trying ", 1)[1] for text in failovers] == [*serving[order[0]][1:], order[1]]
    assert times(w.providers[serving[order[1]][0]]) == [T0]


def test_when_every_channel_fails_the_page_fails_and_the_escalation_moves_on_at_once(build: Builder) -> None:
    w = build(TWO_SMS_PROVIDERS, ("console", "backup", "mailer"))
    for name, provider in w.providers.items():
        provider.fail = lambda m, name=name: (
            DeliveryError(f"{name}: invalid number", retryable=False)
            if m.person is not None and m.person.name == "alice"
            else None
        )
    [incident] = w.open("db-1")

    w.settle()

    alice, bob = w.rows(incident)
    assert (alice.person, alice.status, alice.error) == ("alice", NotificationStatus.FAILED, "mailer: invalid number")
    [error] = w.timeline(incident, "delivery_error")
    assert (error.text, error.at, error.person) == ("Could not reach alice: mailer: invalid number", T0, "alice")
    kinds = w.kinds(incident)
    assert kinds[kinds.index("delivery_error") :][:4] == ["delivery_error", "delivery_failed", "unreachable", "paged"]
    # Step 2 (bob) is paged now, not after step 1's 5 minutes.
    assert (bob.person, bob.step, bob.created_at, bob.status, bob.sent_at) == ("bob", 1, T0, SENT, T0)
    assert w.incident(incident).step == 1
    with w.app.store.read() as unit:
        [timer] = unit.timers(incident)
    assert (timer.kind, timer.due_at) == (TimerKind.ACK_TIMEOUT, T0 + timedelta(minutes=5))


def test_a_provider_the_dispatcher_was_not_given_is_failed_over(build: Builder) -> None:
    # The loader only accepts provider kinds this build implements (see the next test) and bootstrap builds
    # them all; a dispatcher missing one still fails over past it rather than losing the page.
    w = build(
        "channels:\n"
        "  sms: [mail2, console]\n"
        "  voice: [console]\n"
        "  email: [mail]\n"
        "providers:\n"
        "  console: {kind: console}\n"
        "  mail2: {kind: console}\n"
        "  mail: {kind: console}\n",
        ("console",),
        alice="[email, sms]",
    )
    [incident] = w.open("db-1")

    w.settle()  # the test's dispatcher: a fake for console only

    row = w.row(incident)
    assert (row.status, row.channel, row.provider) == (SENT, "sms", "console")
    assert [e.text for e in w.timeline(incident, "delivery_failover")] == [
        f"Page #{row.id}: email to alice via mail failed (mail: provider not configured); trying sms",
        f"Page #{row.id}: sms to alice via mail2 failed (mail2: provider not configured); trying console",
    ]
    sent = w.providers["console"].sent
    assert [(m.channel, m.person.name if m.person else None) for _, m in sent] == [("sms", "alice")]


def test_a_provider_kind_this_build_lacks_is_refused_when_the_configuration_loads(build: Builder) -> None:
    with pytest.raises(ConfigError) as caught:
        build(
            "channels:\n  sms: [console]\n  voice: [console]\n  email: [mail]\n"
            "providers:\n  console: {kind: console}\n"
            "  mail: {kind: smtp, host: smtp.example.com, from: memoguard@example.com}\n",
        )
    [problem] = caught.value.problems
    assert (Path(problem.file).name, problem.path) == ("memoguard.yaml", "providers.mail")
    assert problem.message == (
        "provider kind 'smtp' is not available in this build "
        "(kinds it has: 'console', 'smpp', 'zendesk', 'webhook', 'twilio')"
    )


# --- throttling ---------------------------------------------------------------------------------------

PAIR = """\
channels:
  sms: [console]
  voice: [voicer]
  email: [console]
providers:
  console: {kind: console}
  voicer: {kind: console}
"""


def test_a_throttled_provider_holds_every_row_for_it_and_only_for_it(build: Builder) -> None:
    w = build(PAIR, ("console", "voicer"))
    console, voicer = w.providers["console"], w.providers["voicer"]
    console.failures = [DeliveryError("ESME_RTHROTTLED", retryable=False, retry_after=timedelta(seconds=30))]
    [first] = w.open("db-1", policy="pair")  # alice by sms (console), carol by voice (voicer)

    w.settle()

    alice_1, carol_1 = w.rows(first)
    assert (alice_1.person, alice_1.status, alice_1.attempts) == ("alice", PENDING, 0)
    assert alice_1.not_before == T0 + timedelta(seconds=30)
    assert (carol_1.person, carol_1.status, carol_1.provider, carol_1.sent_at) == ("carol", SENT, "voicer", T0)
    [throttled] = w.timeline(first, "delivery_throttled")
    assert throttled.text == (
        f"Page #{alice_1.id}: sms to alice via console throttled (ESME_RTHROTTLED); "
        "held until 2026-11-17 10:00:30 UTC, retrying in 30s"
    )
    assert "delivery_retry" not in w.kinds(first)
    with w.app.store.read() as unit:
        assert unit.provider_state("console").blocked_until == T0 + timedelta(seconds=30)
        assert unit.provider_state("voicer").blocked_until is None

    w.clock.advance(timedelta(seconds=10))
    [second] = w.open("db-2", policy="pair")
    w.settle()
    alice_2, carol_2 = w.rows(second)
    assert (alice_2.status, alice_2.not_before) == (PENDING, T0 + timedelta(seconds=30))  # held with the provider
    assert (carol_2.status, carol_2.sent_at) == (SENT, T0 + timedelta(seconds=10))  # other providers are not held
    [held] = w.timeline(second, "delivery_held")
    assert held.text == f"Page #{alice_2.id} to alice held until 2026-11-17 10:00:30 UTC: console asked to wait"

    w.clock.advance(timedelta(seconds=19))  # T0 + 29 s
    w.settle()
    assert len(console.calls) == 1

    w.clock.advance(timedelta(seconds=1))  # T0 + 30 s
    w.settle()
    assert times(console) == [T0 + timedelta(seconds=30)] * 2
    for row in (w.rows(first)[0], w.rows(second)[0]):
        assert (row.status, row.attempts, row.sent_at) == (SENT, 0, T0 + timedelta(seconds=30))
    assert times(voicer) == [T0, T0 + timedelta(seconds=10)]


def test_after_a_throttle_no_other_call_of_the_same_round_reaches_the_provider(build: Builder) -> None:
    """The provider said "slow down" for 30 s: the dispatcher holds every message for it until then,
    also the ones it planned in the same round (provider.py: DeliveryError.retry_after)."""
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    console.failures = [DeliveryError("429 Too Many Requests", retryable=True, retry_after=timedelta(seconds=30))]
    incidents = w.open("db-1", "db-2")

    w.settle()

    assert [at for at, _ in console.calls] == [T0]  # nothing more while the provider is blocked
    w.run()
    assert times(console) == [T0 + timedelta(seconds=30)] * 2
    assert [w.row(i).status for i in incidents] == [SENT, SENT]


# --- rate limits and priorities -----------------------------------------------------------------------


def test_a_rate_limited_provider_never_exceeds_any_window_and_sends_everything_once(build: Builder) -> None:
    w = build(
        CONSOLE_ONLY.replace("console: {kind: console}", 'console: {kind: console, rate: ["5/s", "20/min"]}'),
        storm="storm: {pages: 0}\n",
    )
    console = w.providers["console"]
    incidents = w.open(*(f"db-{n}" for n in range(60)))
    assert len(incidents) == 60

    w.run()

    sent = times(console)
    assert sorted(m.id for _, m in console.sent) == sorted(w.row(i).id for i in incidents)  # each exactly once
    assert len(console.calls) == 60
    assert sent == sorted(sent)
    for start in sent:  # every window of the limits' length, closed at both ends
        assert sum(start <= at <= start + timedelta(seconds=1) for at in sent) <= 5
        assert sum(start <= at <= start + timedelta(minutes=1) for at in sent) <= 20
    # The minimum the limits allow: 20 in the first 3 s, the next 20 a minute later, the last 20 at 2 min.
    assert sent[0] == T0
    assert abs((sent[-1] - T0) - timedelta(seconds=123)) <= timedelta(seconds=1)
    assert abs((sent[20] - T0) - timedelta(seconds=60)) <= timedelta(seconds=1)
    assert all(w.row(i).status == SENT for i in incidents)


def test_a_page_waiting_for_a_rate_limit_says_so_on_the_timeline_and_in_the_queue(build: Builder) -> None:
    """A page the provider's rate limit keeps back is held, not "sent now": its timeline and the queue
    report say why and until when (once per reason, not at every round that defers it again)."""
    w = build(CONSOLE_ONLY.replace("console: {kind: console}", 'console: {kind: console, rate: ["1/min"]}'))
    first, second = w.open("db-1", "db-2")
    w.settle()
    row = w.row(second)
    free = row.not_before  # the first instant the minute's window allows (a microsecond past T0 + 1 min)
    assert row.status == PENDING and free is not None
    assert T0 + timedelta(minutes=1) <= free < T0 + timedelta(minutes=1, seconds=1)
    w.clock.advance(timedelta(seconds=30))
    w.settle()  # nothing due: no second entry

    [held] = w.timeline(second, "delivery_held")
    assert (held.at, held.person) == (T0, "alice")
    assert held.text == f"Page #{row.id} to alice held until 2026-11-17 10:01:00 UTC: rate limit of console (1/min)"
    assert w.timeline(first, "delivery_held") == []
    [console] = w.app.queue.report()
    assert (console.queued, console.next_send_at) == (1, free)
    [waiting] = console.held
    assert (waiting.purpose, waiting.count, waiting.why) == ("page", 1, "rate limit of console (1/min)")
    assert waiting.first == waiting.until == free

    w.clock.advance(free - w.clock.now())
    w.settle()
    assert w.row(second).status == SENT
    assert w.app.queue.report()[0].held == []


def test_pages_go_before_status_messages_waiting_for_the_same_rate_limited_provider(build: Builder) -> None:
    w = build(
        CONSOLE_ONLY.replace("console: {kind: console}", 'console: {kind: console, rate: ["1/min"]}'),
        storm="storm: {pages: 0}\n",
    )
    console = w.providers["console"]
    [told] = w.open("db-told", policy="notify")
    w.settle()
    w.clock.advance(timedelta(seconds=1))
    w.resolve("db-told", policy="notify")  # a status message for alice, queued first
    w.settle()
    w.clock.advance(timedelta(seconds=1))
    paged = w.open("db-1", "db-2")  # then two pages
    w.settle()
    assert len(console.sent) == 1

    w.run()

    order = [(m.incident, m.purpose) for _, m in console.sent]
    assert order == [(told, "page"), (paged[0], "page"), (paged[1], "page"), (told, "status")]
    gaps = [b - a for a, b in zip(times(console), times(console)[1:], strict=False)]
    assert all(timedelta(minutes=1) < gap <= timedelta(minutes=1, seconds=1) for gap in gaps)


def test_a_page_queued_behind_a_rate_limit_is_dropped_when_the_incident_is_acknowledged(build: Builder) -> None:
    w = build(CONSOLE_ONLY.replace("console: {kind: console}", 'console: {kind: console, rate: ["1/min"]}'))
    console = w.providers["console"]
    [first] = w.open("db-1")
    w.settle()
    w.clock.advance(timedelta(seconds=1))
    [second] = w.open("db-2")
    w.settle()
    waiting = w.row(second)
    assert waiting.status == PENDING
    assert waiting.not_before is not None and waiting.not_before > T0 + timedelta(minutes=1)
    w.clock.advance(timedelta(seconds=9))
    w.app.actions.act(second, Verb.ACK, "alice", "api")

    w.run()

    row = w.row(second)
    assert row.status == NotificationStatus.CANCELLED
    assert [m.incident for _, m in console.calls] == [first]
    [dropped] = w.timeline(second, "notification_dropped")
    assert dropped.text == f"Page #{row.id} to alice not sent: the incident was acknowledged in the meantime"
    assert dropped.at >= waiting.not_before
    [third] = w.open("db-3")  # the slot the dropped page had reserved is given back: this one goes now
    w.settle()
    assert [(at, m.incident) for at, m in console.sent] == [(T0, first), (dropped.at, third)]


# --- storm control ------------------------------------------------------------------------------------


def test_a_storm_sends_two_pages_and_one_bundle_that_acknowledges_them_all(build: Builder) -> None:
    w = build(CONSOLE_ONLY)  # default storm: 3 pages per 10 minutes
    console = w.providers["console"]
    incidents = w.open(*(f"db-{n}" for n in range(10)))

    w.settle()

    assert times(console) == [T0] * 3
    singles, bundled = incidents[:2], incidents[2:]
    assert [m.incident for _, m in console.sent[:2]] == singles
    message = console.sent[2][1]
    rows = [w.row(i) for i in incidents]
    assert all(r.status == SENT and r.sent_at == T0 for r in rows)
    assert [r.bundle_id for r in rows[:2]] == [None, None]
    bundle_ids = {r.bundle_id for r in rows[2:]}
    assert len(bundle_ids) == 1 and None not in bundle_ids
    assert message.id == rows[2].id
    assert message.key == f"memoguard-bundle-{rows[2].bundle_id}"
    assert message.subject == "[memoguard] 8 alarms"
    assert message.text.startswith("memoguard : 8 alarmes de plus pour vous :")  # alice reads French
    for incident in bundled[:5]:
        assert f"#{incident} critical disk full on db-{incidents.index(incident)} ;" in message.text
    assert f"#{bundled[5]} " not in message.text
    assert message.text.endswith("et 3 autres. Répondez 100a pour toutes les acquitter.")
    notified = w.timeline(bundled[0], "notified")[-1]
    assert notified.text.endswith("bundled with 7 other alarm(s) under code 100")

    results = w.app.actions.act_on_bundle(100, Verb.ACK, "alice", "sms")

    assert sorted(results, key=int) == bundled
    assert all(isinstance(r, Outcome) and r.incident.state == IncidentState.ACKNOWLEDGED for r in results.values())
    states = [w.incident(i).state for i in incidents]
    assert states == [IncidentState.TRIGGERED] * 2 + [IncidentState.ACKNOWLEDGED] * 8


def test_an_incident_resolved_before_the_bundle_goes_out_is_left_out_of_it(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    incidents = w.open(*(f"db-{n}" for n in range(10)))
    console.before = lambda _: w.resolve("db-9")  # while the first page of the round is being sent

    w.settle()

    message = console.sent[2][1]
    assert message.text.startswith("memoguard : 7 alarmes de plus pour vous :")
    gone = w.row(incidents[9])
    assert (gone.status, gone.bundle_id) == (NotificationStatus.CANCELLED, None)
    assert w.incident(incidents[9]).state == IncidentState.RESOLVED
    results = w.app.actions.act_on_bundle(100, Verb.ACK, "alice", "sms")
    assert sorted(results, key=int) == incidents[2:9]
    assert not any(isinstance(r, Refused) for r in results.values())


def test_a_fourth_page_within_the_storm_window_goes_at_once_as_a_bundle(build: Builder) -> None:
    """Four incidents for one person within a minute (default storm: 3 pages per 10 minutes). The fourth
    page must not wait for the oldest page to leave the window while its step's ack clock runs (in the
    field a critical page left 3 min 44 s late): it goes at once, as a bundle, and the timeline says so."""
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    first = []
    for n in range(3):
        first += w.open(f"db-{n}")
        w.settle()
        w.clock.advance(timedelta(seconds=15))
    assert [m.key for _, m in console.sent] == [f"memoguard-{w.row(i).id}" for i in first]  # three singles

    [fourth] = w.open("db-3")
    w.settle()

    row = w.row(fourth)
    assert (row.status, row.sent_at) == (SENT, T0 + timedelta(seconds=45))
    at, message = console.sent[3]
    assert at == T0 + timedelta(seconds=45)
    assert row.bundle_id is not None and message.key == f"memoguard-bundle-{row.bundle_id}"
    assert message.subject == "[memoguard] 1 alarm"
    assert message.text.startswith("memoguard : 1 alarme de plus pour vous :")
    assert f"#{fourth} critical disk full on db-3 ;" in message.text
    assert message.text.endswith("Répondez 100a pour l'acquitter.")
    [notified] = w.timeline(fourth, "notified")
    assert notified.text == (
        f"Page #{row.id} sent to alice by sms via console (ref console-{row.id}), in a bundle under code 100: "
        "alice had 3 pages on sms within 10m (the storm limit), so it went at once, bundled"
    )
    results = w.app.actions.act_on_bundle(100, Verb.ACK, "alice", "sms")
    assert list(results) == [fourth]
    assert w.incident(fourth).state == IncidentState.ACKNOWLEDGED


def test_pages_after_the_storm_window_is_full_go_at_once_in_one_bundle(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    w.open(*(f"db-{n}" for n in range(10)))
    w.settle()
    assert len(console.sent) == 3

    w.clock.advance(timedelta(minutes=1))
    later = w.open(*(f"late-{n}" for n in range(5)))
    w.settle()

    assert times(console)[3:] == [T0 + timedelta(minutes=1)]  # one bundle for the five, at once
    bundle = console.sent[3][1]
    assert bundle.text.startswith("memoguard : 5 alarmes de plus pour vous :")
    assert bundle.text.endswith("Répondez 101a pour toutes les acquitter.")  # 100 is not reused within 72 h
    rows = [w.row(i) for i in later]
    assert all(r.status == SENT and r.sent_at == T0 + timedelta(minutes=1) for r in rows)
    assert len({r.bundle_id for r in rows}) == 1 and rows[0].bundle_id is not None
    notified = w.timeline(later[0], "notified")[-1]
    assert notified.text.endswith(
        "bundled with 4 other alarm(s) under code 101: "
        "alice had 3 pages on sms within 10m (the storm limit), so it went at once, bundled"
    )


def test_a_bundle_whose_send_fails_is_retried_after_its_backoff_not_after_the_storm_window(build: Builder) -> None:
    """A bundle that did not reach the person must not use up one of their storm slots."""
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    failed: list[Message] = []

    def flaky_bundles(message: Message) -> DeliveryError | None:
        if message.key.startswith("memoguard-bundle-") and not failed:
            failed.append(message)
            return DeliveryError("timeout", retryable=True)
        return None

    console.fail = flaky_bundles
    incidents = w.open(*(f"db-{n}" for n in range(10)))
    w.settle()
    assert len(failed) == 1 and len(console.sent) == 2
    retry_at = max(w.row(i).not_before or T0 for i in incidents[2:])
    assert retry_at <= T0 + timedelta(seconds=2)  # backoff after a first failure: 1 to 2 s

    w.run()  # as the engine does: wake at each row's not_before

    rows = [w.row(i) for i in incidents[2:]]
    assert [(r.status, r.sent_at is not None and r.sent_at <= retry_at) for r in rows] == [(SENT, True)] * 8
    assert len(console.sent) == 3  # still two pages and one bundle for the whole storm
    assert len({r.bundle_id for r in rows}) == 1


def test_storm_control_can_be_turned_off(build: Builder) -> None:
    w = build(CONSOLE_ONLY, storm="storm: {pages: 0}\n")
    console = w.providers["console"]
    incidents = w.open(*(f"db-{n}" for n in range(10)))

    w.settle()

    assert [m.incident for _, m in console.sent] == incidents
    assert all(m.purpose == "page" and m.key == f"memoguard-{m.id}" for _, m in console.sent)
    assert all(w.row(i).bundle_id is None for i in incidents)


# --- notices ------------------------------------------------------------------------------------------


def _page_alice_then_bob_who_acks(w: World, policy: str) -> str:
    [incident] = w.open("db-1", policy=policy)
    w.settle()
    w.clock.advance(timedelta(minutes=5))
    assert w.app.timers.fire_due() == 1  # step 1 not acknowledged: bob is paged
    w.settle()
    w.clock.advance(timedelta(minutes=1))
    w.app.actions.act(incident, Verb.ACK, "bob", "sms")
    w.settle()
    return incident


def test_notices_tell_the_others_paged_about_an_ack_and_everyone_about_a_resolve(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]

    incident = _page_alice_then_bob_who_acks(w, "notify")

    pages = [(m.person.name if m.person else None, m.purpose) for _, m in console.sent]
    assert pages == [("alice", "page"), ("bob", "page"), ("alice", "status")]
    status = console.sent[2][1]
    assert status.text == f"memoguard #{incident} : disk full on db-1. Acquitté par bob : plus rien à faire pour vous."
    assert console.sent[2][0] == T0 + timedelta(minutes=6)
    assert not [r for r in w.rows(incident) if r.purpose == "status" and r.person == "bob"]

    w.clock.advance(timedelta(minutes=1))
    w.resolve("db-1", policy="notify")
    w.settle()

    resolved = {m.person.name: m.text for _, m in console.sent[3:] if m.person is not None and m.purpose == "status"}
    assert resolved == {
        "alice": f"memoguard #{incident} : disk full on db-1. Résolu.",
        "bob": f"memoguard #{incident}: disk full on db-1. Resolved.",
    }
    assert len(console.sent) == 5


def test_without_notices_nobody_gets_status_messages(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]

    incident = _page_alice_then_bob_who_acks(w, "quiet")
    w.clock.advance(timedelta(minutes=1))
    w.resolve("db-1", policy="quiet")
    w.settle()

    assert w.incident(incident).state == IncidentState.RESOLVED
    assert [m.purpose for _, m in console.sent] == ["page", "page"]
    assert [r.purpose for r in w.rows(incident)] == ["page", "page"]


# --- crash safety -------------------------------------------------------------------------------------


def test_rows_claimed_by_a_dispatcher_that_died_come_back_after_the_lease_and_are_sent_once(
    build: Builder,
) -> None:
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    [orphan] = w.open("db-1")
    with w.app.store.write() as unit:  # a dispatcher claims the row, then dies before sending
        ready = unit.ready_notifications(w.clock.now(), 100)
        assert unit.claim_notifications([r.id for r in ready], w.clock.now() + LEASE) == [r.id for r in ready]
    assert [r.incident for r in ready] == [orphan]
    w.clock.advance(timedelta(seconds=1))
    [other] = w.open("db-2")

    w.settle()
    assert [m.incident for _, m in console.sent] == [other]  # the claim holds nobody else back
    assert w.row(orphan).status == NotificationStatus.SENDING

    w.clock.advance(timedelta(seconds=28))  # T0 + 29 s: the lease still runs
    w.settle()
    assert len(console.calls) == 1

    w.clock.advance(timedelta(seconds=2))  # T0 + 31 s: lapsed
    store = w.app.store
    if isinstance(store, SqlStore) and store.postgres:
        # On PostgreSQL a claim ends with its claimer's session, not with its lease: here the "dead"
        # dispatcher's session is this process's own, still open. Its end is the death.
        w.settle()
        assert len(console.calls) == 1
        end_claimant_session(store)
    w.settle()
    w.clock.advance(timedelta(minutes=1))
    w.settle()

    assert [(at, m.incident) for at, m in console.sent] == [
        (T0 + timedelta(seconds=1), other),
        (T0 + timedelta(seconds=31), orphan),
    ]
    row = w.row(orphan)
    assert (row.status, row.sent_at, row.attempts) == (SENT, T0 + timedelta(seconds=31), 0)
