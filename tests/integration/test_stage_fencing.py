"""Stage fencing through the dispatcher, against the database, on the fake clock (memoguard/domain/stage.py).

A page drafted for a stage that is over is dropped before it is sent, not sent late; a page to someone
who has acknowledged since (quorum above 1) is dropped too; and a delivery failure of a stage that is
over is put on the timeline and changes nothing else. Timers fire and the dispatcher drains in the
order their times come, as in the service (``advance_to``); the providers are the recording fakes of
tests/support/delivery.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from memoguard.services.action import Verb
from memoguard.services.provider import DeliveryError, Message
from memoguard.services.record import NotificationStatus
from tests.conftest import T0
from tests.support.delivery import CONSOLE_ONLY, SENT, Builder, World

# One step paging whoever is on call (alice), run twice (repeat 1): the case where a pass-1 page's
# failure arrived during pass 2.
AGAIN = 'name: again\nrepeat: 1\nsteps:\n  - {notify: ["roster:ops"], channels: [sms], ack_within: 5m}\n'
# SMS fails over from console to backup, each tried for three minutes: a page whose every attempt fails
# fails for good about six minutes after it was written, past the step's five.
SLOW_FAILOVER = """\
channels:
  sms: {providers: [console, backup], deadline: 3m}
  voice: [console]
  email: [console]
providers:
  console: {kind: console}
  backup: {kind: console}
"""
RATE_LIMITED = CONSOLE_ONLY.replace("console: {kind: console}", 'console: {kind: console, rate: ["1/6min"]}')


@pytest.fixture
def again(service_dir: Path) -> Path:
    """The ``again`` policy and its route (label policy=again) added to the copied configuration."""
    (service_dir / "escalation_policies" / "again.yaml").write_text(AGAIN, encoding="utf-8")
    main = service_dir / "memoguard.yaml"
    route = "  - {match: {labels: {policy: again}}, policy: again}\n"
    main.write_text(main.read_text(encoding="utf-8").replace("routes:\n", "routes:\n" + route, 1), encoding="utf-8")
    return service_dir


def who(message: Message) -> str | None:
    return message.person.name if message.person is not None else None


def advance_to(w: World, at: datetime) -> None:
    """Fire due timers and drain the outbox, jumping from one due time to the next, up to ``at``."""
    for _ in range(1000):
        w.app.timers.fire_due()
        w.settle()
        with w.app.store.read() as unit:
            due = [d for d in (unit.next_notification_due(), unit.next_timer_due()) if d is not None]
        following = max(min(due, default=at), w.clock.now() + timedelta(microseconds=1))
        if following > at:
            w.clock.advance(at - w.clock.now())
            w.app.timers.fire_due()
            w.settle()
            return
        w.clock.advance(following - w.clock.now())
    raise AssertionError("the clock did not reach its target")


def test_pages_of_steps_that_are_over_are_dropped_not_sent_late(build: Builder) -> None:
    """Seen with two instances: a step-2 page held up (there, by a dead instance's claim; here, by a rate
    limit) went out after step 3 had paged. The pre-send check only asked whether the incident was still
    triggered."""
    w = build(RATE_LIMITED)
    console = w.providers["console"]
    [first] = w.open("db-1")  # its page takes the one slot of the next six minutes
    w.settle()
    w.resolve("db-1")
    w.clock.advance(timedelta(seconds=1))
    [second] = w.open("db-2")  # policy simple: alice, then bob at +5 min, then dave at +10 min
    w.settle()
    [alice] = w.rows(second)
    assert alice.status == NotificationStatus.PENDING
    assert alice.not_before is not None and alice.not_before > T0 + timedelta(minutes=5)  # after step 2 pages

    advance_to(w, T0 + timedelta(minutes=30))

    rows = w.rows(second)
    assert [(r.person, r.step, r.status) for r in rows] == [
        ("alice", 0, NotificationStatus.CANCELLED),
        ("bob", 1, NotificationStatus.CANCELLED),
        ("dave", 2, SENT),
    ]
    assert [(m.incident, who(m)) for _, m in console.sent] == [(first, "alice"), (second, "dave")]
    dropped = w.timeline(second, "notification_dropped")
    assert [e.text for e in dropped] == [
        f"Page #{rows[0].id} to alice not sent: step 1 is over, step 2 was paged since",
        f"Page #{rows[1].id} to bob not sent: step 2 is over, step 3 was paged since",
    ]
    assert dropped[1].at > T0 + timedelta(minutes=10)  # when its slot came, step 3 had paged
    assert rows[0].error == "not sent: step 1 is over, step 2 was paged since"


def test_a_page_drafted_before_an_ack_expiry_is_not_sent_beside_the_page_after_it(build: Builder) -> None:
    """Same step, same pass: alice's first page, still queued (the dispatcher has not come round) when
    she acknowledged and when her acknowledgement expired, must not go out as well as the new page."""
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    [incident] = w.open("db-1", policy="expiry")  # reack_after: 30m
    [before] = w.rows(incident)
    w.clock.advance(timedelta(minutes=1))
    w.app.actions.act(incident, Verb.ACK, "alice", "api")
    w.clock.advance(timedelta(minutes=30))
    assert w.app.timers.fire_due() == 1  # the ack expired: alice is paged again, and told

    w.settle()

    rows = w.rows(incident)
    assert [(r.reason, r.purpose, r.status) for r in rows] == [
        ("triggered", "page", NotificationStatus.CANCELLED),
        ("ack_expired", "status", SENT),
        ("reack", "page", SENT),
    ]
    assert before.id not in [m.id for _, m in console.sent]
    [dropped] = w.timeline(incident, "notification_dropped")
    assert (
        dropped.text
        == f"Page #{before.id} to alice not sent: it was for an earlier paging of step 1, paged again since"
    )


def test_a_page_to_someone_who_acknowledged_since_is_dropped_and_the_others_go(build: Builder) -> None:
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    [incident] = w.open("db-1", policy="quorum")  # alice and bob, two acks needed
    w.app.actions.act(incident, Verb.ACK, "bob", "api")  # before his page went out

    w.settle()

    assert [who(m) for _, m in console.sent] == ["alice"]
    [dropped] = w.timeline(incident, "notification_dropped")
    assert dropped.text.endswith("to bob not sent: bob acknowledged in the meantime")
    assert w.incident(incident).acked_by == ("bob",)


def test_a_late_failure_of_pass_one_does_not_end_the_escalation_during_pass_two(again: Path, build: Builder) -> None:
    """Reproduced: with repeat 1, a pass-1 page failed for good at +6 min while the same person had been
    paged in pass 2, and the incident went straight to ``exhausted``. Here the provider takes six
    minutes to refuse the pass-1 page: pass 2 pages alice while the call is in flight."""
    w = build(CONSOLE_ONLY)
    console = w.providers["console"]
    [incident] = w.open("db-1", policy="again")

    def slow(_: Message) -> None:
        w.clock.advance(timedelta(minutes=6))
        assert w.app.timers.fire_due() == 1  # the ack timeout: pass 2 pages alice again

    console.before = slow
    console.failures = [DeliveryError("number unreachable", retryable=False)]
    w.settle()

    rows = w.rows(incident)
    assert [(r.cycle, r.status) for r in rows] == [(0, NotificationStatus.FAILED), (1, SENT)]
    assert not {"unreachable", "exhausted"} & set(w.kinds(incident))
    [failure] = w.timeline(incident, "delivery_failed")
    assert failure.at == T0 + timedelta(minutes=6)
    assert failure.text == (
        "Could not reach alice: number unreachable (a late failure: step 1 of pass 1 is over, "
        "step 1 of pass 2 was paged since; nothing else changes)"
    )
    assert w.incident(incident).undeliverable == frozenset()

    advance_to(w, T0 + timedelta(minutes=12))  # pass 2 runs its full five minutes
    [exhausted] = w.timeline(incident, "exhausted")
    assert exhausted.at == T0 + timedelta(minutes=11)


def test_retries_of_a_page_whose_stage_is_over_stop_and_do_not_fail_it(again: Path, build: Builder) -> None:
    """A pass-1 page still failing over when pass 2 pages the same person is dropped at its next try: it
    neither goes out late nor fails for good (which would have ended the escalation)."""
    w = build(SLOW_FAILOVER, ("console", "backup"))
    [incident] = w.open("db-1", policy="again")
    [pass_one] = w.rows(incident)

    def refuse(message: Message) -> DeliveryError | None:
        return DeliveryError("link down", retryable=True) if message.id == pass_one.id else None

    w.providers["console"].fail = w.providers["backup"].fail = refuse

    advance_to(w, T0 + timedelta(minutes=9))

    rows = w.rows(incident)
    assert [(r.cycle, r.status) for r in rows] == [(0, NotificationStatus.CANCELLED), (1, SENT)]
    [dropped] = w.timeline(incident, "notification_dropped")
    assert dropped.text == (
        f"Page #{pass_one.id} to alice not sent: step 1 of pass 1 is over, step 1 of pass 2 was paged since"
    )
    assert w.timeline(incident, "delivery_failed") == []
    assert "exhausted" not in w.kinds(incident)
    advance_to(w, T0 + timedelta(minutes=11))
    [exhausted] = w.timeline(incident, "exhausted")
    assert exhausted.at == T0 + timedelta(minutes=10)
