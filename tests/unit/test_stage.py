"""Stage fencing and the quorum within reach (memoguard/domain/stage.py and ``decide``), on explicit times.

Each case is one that went wrong when effects were judged only by whether the incident was still
triggered: a delivery failure of an earlier paging arriving after the escalation moved on (with repeat
1, the pass-1 page of the same person failing during pass 2 ended the escalation, or paged the crisis
cell early), a page of an earlier paging sent late, a page to someone who had acknowledged since, and a
step whose quorum could no longer be met waiting out its timeout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from memoguard.domain.effect import Effect, Notify, Purpose, Record, ScheduleTimer
from memoguard.domain.escalation import decide
from memoguard.domain.event import Acked, Confirmed, DeliveryFailed, TimerFired, TimerKind, Triggered
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.policy import AckMode, AckRule, CrisisCell, Policy, Step, Target
from memoguard.domain.stage import Stage, current, is_current, over, unwanted

NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
SMS = ("sms",)
CELL = CrisisCell(("director", "cto", "comms"), SMS, quorum=2)
QUORUM_2 = AckRule(quorum=2)
ACK_TIMEOUT = TimerKind.ACK_TIMEOUT


def step(*people: str, within: int = 5) -> Step:
    return Step(tuple(Target.parse(f"person:{p}") for p in people), SMS, timedelta(minutes=within))


def policy(*steps: Step, ack: AckRule | None = None, repeat: int = 0, crisis: CrisisCell | None = None) -> Policy:
    return Policy("critical", steps, ack or AckRule(), repeat, crisis)


def minutes(n: int) -> datetime:
    return NOW + timedelta(minutes=n)


def triggered(pol: Policy) -> tuple[Incident, list[Effect]]:
    return decide(Incident("inc-1", "db-prod down", pol, (), NOW), Triggered(), NOW)


def fire(incident: Incident, kind: TimerKind, at: datetime) -> tuple[Incident, list[Effect]]:
    return decide(incident, TimerFired(kind, incident.version), at)


def pages(effects: list[Effect]) -> list[Notify]:
    return [e for e in effects if isinstance(e, Notify) and e.purpose == Purpose.PAGE]


def stage_of(effects: list[Effect], person: str) -> Stage:
    [page] = [p for p in pages(effects) if p.person == person]
    assert page.stage is not None
    return page.stage


def kinds(effects: list[Effect]) -> list[str]:
    return [e.kind for e in effects if isinstance(e, Record)]


def texts(effects: list[Effect], kind: str) -> list[str]:
    return [e.text for e in effects if isinstance(e, Record) and e.kind == kind]


# --- late delivery failures ---------------------------------------------------------------------------


def test_a_pass_one_failure_during_pass_two_changes_nothing_and_the_escalation_goes_on() -> None:
    """Reproduced with repeat 1: alice's pass-1 page failed over past ``ack_within`` and failed for good
    at +6 min while pass 2 had paged her again: the incident went straight to ``exhausted``."""
    incident, effects = triggered(policy(step("alice"), repeat=1))
    first = stage_of(effects, "alice")
    incident, effects = fire(incident, ACK_TIMEOUT, minutes(5))  # pass 2 pages alice again
    assert [p.person for p in pages(effects)] == ["alice"]

    after, effects = decide(incident, DeliveryFailed("alice", "no route", first), minutes(6))

    assert after == incident  # not exhausted, alice not unreachable on pass 2, same timers
    assert effects == [
        Record(
            "delivery_failed",
            "Could not reach alice: no route (a late failure: step 1 of pass 1 is over, step 1 of pass 2 was "
            "paged since; nothing else changes)",
            "alice",
        )
    ]
    _, effects = fire(after, ACK_TIMEOUT, minutes(10))  # pass 2 runs its full five minutes
    assert kinds(effects) == ["ack_timeout", "exhausted"]


def test_a_late_failure_does_not_page_the_crisis_cell_early() -> None:
    incident, effects = triggered(policy(step("alice"), repeat=1, crisis=CELL))
    first = stage_of(effects, "alice")
    incident, _ = fire(incident, ACK_TIMEOUT, minutes(5))

    after, effects = decide(incident, DeliveryFailed("alice", "no route", first), minutes(6))

    assert not after.crisis
    assert pages(effects) == []
    after, effects = fire(after, ACK_TIMEOUT, minutes(10))
    assert after.crisis  # at +10 min, when pass 2 timed out, not at +6
    assert [p.person for p in pages(effects)] == ["director", "cto", "comms"]


def test_a_failure_of_an_earlier_step_does_not_make_its_person_unreachable_on_the_current_one() -> None:
    incident, effects = triggered(policy(step("alice"), step("alice", "bob")))
    first = stage_of(effects, "alice")
    incident, _ = fire(incident, ACK_TIMEOUT, minutes(5))  # step 2: alice and bob

    incident, effects = decide(incident, DeliveryFailed("alice", "bounced", first), minutes(6))
    assert incident.undeliverable == frozenset()
    incident, effects = decide(incident, DeliveryFailed("bob", "bounced", current(incident)), minutes(7))

    assert kinds(effects) == ["delivery_failed"]  # alice's step-2 page may well arrive: no escalation
    assert incident.undeliverable == {"bob"}


def test_after_an_ack_expiry_a_failure_of_the_page_before_it_changes_nothing() -> None:
    """Same cycle, same step: only the stage's version tells the page before the ack from the new one."""
    pol = policy(step("alice"), step("bob"), ack=AckRule(reack_after=timedelta(minutes=30)))
    incident, effects = triggered(pol)
    before_ack = stage_of(effects, "alice")
    incident, _ = decide(incident, Acked("alice"), minutes(1))
    incident, effects = fire(incident, TimerKind.ACK_EXPIRY, minutes(31))  # alice paged again, step 1
    again = stage_of(effects, "alice")
    assert (again.cycle, again.step) == (before_ack.cycle, before_ack.step)
    assert again != before_ack

    after, effects = decide(incident, DeliveryFailed("alice", "no route", before_ack), minutes(32))
    assert after == incident
    assert kinds(effects) == ["delivery_failed"]

    after, effects = decide(incident, DeliveryFailed("alice", "no route", again), minutes(32))
    assert kinds(effects) == ["delivery_failed", "unreachable", "paged"]  # the new page's failure counts
    assert [p.person for p in pages(effects)] == ["bob"]


def test_a_failure_after_the_escalation_is_exhausted_does_not_end_it_again() -> None:
    incident, effects = triggered(policy(step("alice")))
    first = stage_of(effects, "alice")
    incident, effects = fire(incident, ACK_TIMEOUT, minutes(5))
    assert kinds(effects) == ["ack_timeout", "exhausted"]

    after, effects = decide(incident, DeliveryFailed("alice", "no route", first), minutes(6))
    assert after == incident
    assert kinds(effects) == ["delivery_failed"]


# --- which pages are still wanted ---------------------------------------------------------------------


def test_a_page_of_an_earlier_step_is_unwanted_once_the_next_step_is_paged() -> None:
    incident, effects = triggered(policy(step("alice"), step("bob")))
    first = stage_of(effects, "alice")
    assert unwanted(incident, first, "alice") is None
    incident, effects = fire(incident, ACK_TIMEOUT, minutes(5))

    assert unwanted(incident, first, "alice") == "step 1 is over, step 2 was paged since"
    assert unwanted(incident, stage_of(effects, "bob"), "bob") is None


def test_a_page_drafted_before_an_ack_expiry_is_unwanted_after_it() -> None:
    incident, effects = triggered(policy(step("alice"), ack=AckRule(reack_after=timedelta(minutes=30))))
    first = stage_of(effects, "alice")
    acked, _ = decide(incident, Acked("alice"), minutes(1))
    assert unwanted(acked, first, "alice") == "the incident was acknowledged in the meantime"
    incident, effects = fire(acked, TimerKind.ACK_EXPIRY, minutes(31))

    assert unwanted(incident, first, "alice") == "it was for an earlier paging of step 1, paged again since"
    assert unwanted(incident, stage_of(effects, "alice"), "alice") is None


def test_a_crisis_page_drafted_before_a_confirm_timeout_is_unwanted_after_it() -> None:
    cell = CrisisCell(("director", "cto"), SMS, quorum=1)
    pol = policy(step("alice"), ack=AckRule(AckMode.DOUBLE, confirm_within=timedelta(minutes=10)), crisis=cell)
    incident, _ = triggered(pol)
    incident, effects = fire(incident, ACK_TIMEOUT, minutes(5))
    first = stage_of(effects, "cto")
    incident, _ = decide(incident, Acked("director"), minutes(6))
    incident, effects = fire(incident, TimerKind.CONFIRM_TIMEOUT, minutes(16))  # the cell is paged again

    assert unwanted(incident, first, "cto") == "it was for an earlier paging of the crisis cell, paged again since"
    assert unwanted(incident, stage_of(effects, "cto"), "cto") is None


def test_with_a_quorum_a_page_to_someone_who_acknowledged_since_is_unwanted() -> None:
    incident, effects = triggered(policy(step("alice", "bob", "carol"), ack=QUORUM_2))
    stage = stage_of(effects, "bob")
    incident, _ = decide(incident, Acked("bob"), minutes(1))

    assert incident.state == IncidentState.TRIGGERED  # one of two: the stage goes on
    assert unwanted(incident, stage, "bob") == "bob acknowledged in the meantime"
    assert unwanted(incident, stage, "alice") is None


def test_pages_are_unwanted_once_resolved_or_confirmed() -> None:
    pol = policy(step("alice"), ack=AckRule(AckMode.DOUBLE, confirm_within=timedelta(minutes=10)))
    incident, effects = triggered(pol)
    stage = stage_of(effects, "alice")
    confirmed, _ = decide(incident, Confirmed("alice"), minutes(1))
    assert over(confirmed, stage) == "the incident was confirmed in the meantime"


def test_a_page_written_without_a_version_is_judged_by_its_cycle_and_step() -> None:
    incident, _ = triggered(policy(step("alice"), step("bob")))
    assert is_current(incident, Stage(0, 0))
    incident, _ = fire(incident, ACK_TIMEOUT, minutes(5))
    assert over(incident, Stage(0, 0)) == "step 1 is over, the incident is now at step 2"
    assert is_current(incident, Stage(0, 1))
    assert not is_current(incident, Stage(0, None))


def test_every_page_of_a_decision_carries_the_stage_it_starts() -> None:
    incident, effects = triggered(policy(step("alice", "bob")))
    assert {p.stage for p in pages(effects)} == {Stage(0, 0, incident.version)} == {current(incident)}
    timers = [e for e in effects if isinstance(e, ScheduleTimer)]
    assert [t.version for t in timers] == [incident.version]  # the same number fences the timers


# --- the quorum within reach --------------------------------------------------------------------------


def test_a_step_that_can_no_longer_reach_its_quorum_escalates_at_once() -> None:
    pol = policy(step("alice", "bob"), step("manager"), ack=QUORUM_2)
    incident, _ = triggered(pol)

    after, effects = decide(incident, DeliveryFailed("bob", "bounced", current(incident)), minutes(1))

    assert kinds(effects) == ["delivery_failed", "unreachable", "paged"]
    assert texts(effects, "unreachable") == [
        "Step 1 can no longer reach the quorum of 2 (0 acknowledged, 1 still reachable); escalating now"
    ]
    assert [(p.person, p.reason) for p in pages(effects)] == [("manager", "undeliverable")]
    assert after.step == 1


def test_acks_so_far_count_towards_the_quorum_within_reach() -> None:
    pol = policy(step("alice", "bob", "carol"), step("manager"), ack=QUORUM_2)
    incident, _ = triggered(pol)
    incident, _ = decide(incident, Acked("alice"), minutes(1))

    incident, effects = decide(incident, DeliveryFailed("bob", "bounced", current(incident)), minutes(2))
    assert kinds(effects) == ["delivery_failed"]  # alice acked and carol may: 2 within reach

    incident, effects = decide(incident, DeliveryFailed("carol", "bounced", current(incident)), minutes(3))
    assert texts(effects, "unreachable") == [
        "Step 1 can no longer reach the quorum of 2 (1 acknowledged, 0 still reachable); escalating now"
    ]
    assert [p.person for p in pages(effects)] == ["manager"]
    assert incident.acked_by == ("alice",)


def test_a_quorum_still_within_reach_only_records_the_failure() -> None:
    incident, _ = triggered(policy(step("alice", "bob", "carol"), ack=QUORUM_2))
    after, effects = decide(incident, DeliveryFailed("carol", "bounced", current(incident)), minutes(1))
    assert kinds(effects) == ["delivery_failed"]
    assert after.version == incident.version


def test_a_crisis_cell_out_of_reach_of_its_quorum_is_recorded_once_and_nothing_more() -> None:
    incident, _ = triggered(policy(step("alice"), crisis=CELL))
    incident, _ = fire(incident, ACK_TIMEOUT, minutes(5))
    assert incident.crisis

    incident, effects = decide(incident, DeliveryFailed("cto", "bounced", current(incident)), minutes(6))
    assert kinds(effects) == ["delivery_failed"]
    before = incident
    incident, effects = decide(incident, DeliveryFailed("comms", "bounced", current(incident)), minutes(7))
    assert kinds(effects) == ["delivery_failed", "unreachable"]
    assert texts(effects, "unreachable") == [
        "The crisis cell can no longer reach its quorum of 2 (0 acknowledged, 1 still reachable)"
    ]
    assert pages(effects) == []
    assert incident.version == before.version  # no timer touched: nothing beyond the crisis cell
    incident, effects = decide(incident, DeliveryFailed("director", "bounced", current(incident)), minutes(8))
    assert kinds(effects) == ["delivery_failed"]
