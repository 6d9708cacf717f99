"""Example-based tests of the escalation state machine (``decide``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from memoguard.domain.effect import (
    CancelNotifications,
    CancelTimers,
    Effect,
    Notify,
    Purpose,
    Record,
    ScheduleTimer,
)
from memoguard.domain.escalation import decide
from memoguard.domain.event import (
    Acked,
    AlarmAttached,
    Confirmed,
    DeliveryFailed,
    EscalateRequested,
    Event,
    Resolved,
    TimerFired,
    TimerKind,
    Triggered,
)
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.paging import step_callout
from memoguard.domain.policy import AckMode, AckRule, CrisisCell, Policy, Step, Target
from memoguard.domain.roster import Layer, Level, Roster, Window
from memoguard.domain.stage import Stage, current

PARIS = ZoneInfo("Europe/Paris")
# Tuesday 2026-01-06 04:00 in Paris: first week of the rotation, so alice is primary and bob secondary.
NOW = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
INFRA = Roster(
    "infra",
    PARIS,
    (Layer("l", ("alice", "bob"), timedelta(weeks=1), datetime(2026, 1, 5, 9, 0)),),
    (Level("secondary", offset=1),),
)
# Weekends only: a gap on a Tuesday.
WEEKENDS = Window(days=frozenset({5, 6}))
WEEKEND = Roster(
    "weekend",
    PARIS,
    (Layer("w", ("wendy",), timedelta(weeks=1), datetime(2026, 1, 5, 9, 0), (WEEKENDS,)),),
)
SMS_VOICE = ("sms", "voice")
CELL = CrisisCell(("director", "cto", "comms"), ("sms", "voice", "email"), quorum=2, bridge="+33123456789")
DOUBLE = AckRule(AckMode.DOUBLE, confirm_within=timedelta(minutes=20))
DOUBLE_QUORUM_2 = AckRule(AckMode.DOUBLE, timedelta(minutes=20), quorum=2)
CellOrNone = CrisisCell | None

QUORUM_2 = AckRule(quorum=2)
FIVE_MINUTES = timedelta(minutes=5)
ACK_TIMEOUT = TimerKind.ACK_TIMEOUT

TRIGGERED = IncidentState.TRIGGERED
ACKNOWLEDGED = IncidentState.ACKNOWLEDGED
CONFIRMED = IncidentState.CONFIRMED
RESOLVED = IncidentState.RESOLVED


def step(*targets: str, within: int = 5, channels: tuple[str, ...] = SMS_VOICE) -> Step:
    return Step(tuple(Target.parse(t) for t in targets), channels, timedelta(minutes=within))


def policy(*steps: Step, ack: AckRule | None = None, repeat: int = 0, crisis: CellOrNone = None) -> Policy:
    return Policy("critical", steps, ack or AckRule(), repeat, crisis)


STANDARD = (step("roster:infra"), step("roster:infra/secondary", "person:manager", within=10))


def new_incident(pol: Policy | None = None) -> Incident:
    return Incident("inc-1", "db-prod down", pol or policy(*STANDARD), (INFRA, WEEKEND), NOW)


def triggered(pol: Policy | None = None) -> Incident:
    incident, _ = decide(new_incident(pol), Triggered(), NOW)
    return incident


def run(incident: Incident, *events: Event, at: datetime = NOW) -> tuple[Incident, list[Effect]]:
    """Apply events in order; the effects of the last one."""
    effects: list[Effect] = []
    for event in events:
        incident, effects = decide(incident, event, at)
    return incident, effects


def fire(incident: Incident, kind: TimerKind, at: datetime) -> tuple[Incident, list[Effect]]:
    return decide(incident, TimerFired(kind, incident.version), at)


def pages(effects: list[Effect]) -> list[Notify]:
    return [e for e in effects if isinstance(e, Notify) and e.purpose == Purpose.PAGE]


def statuses(effects: list[Effect]) -> list[Notify]:
    return [e for e in effects if isinstance(e, Notify) and e.purpose == Purpose.STATUS]


def paged_people(effects: list[Effect]) -> list[str]:
    return [n.person for n in pages(effects)]


def timers(effects: list[Effect]) -> list[ScheduleTimer]:
    return [e for e in effects if isinstance(e, ScheduleTimer)]


def records(effects: list[Effect], kind: str | None = None) -> list[Record]:
    return [e for e in effects if isinstance(e, Record) and (kind is None or e.kind == kind)]


def kinds(effects: list[Effect]) -> list[str]:
    return [r.kind for r in records(effects)]


def minutes(n: int) -> datetime:
    return NOW + timedelta(minutes=n)


def failed(incident: Incident, person: str, reason: str) -> DeliveryFailed:
    """A page to ``person`` of the incident's current stage could not be delivered."""
    return DeliveryFailed(person, reason, current(incident))


# --- trigger and steps --------------------------------------------------------------------------------


def test_trigger_pages_step_zero_and_arms_the_ack_timeout() -> None:
    incident, effects = decide(new_incident(), Triggered(), NOW)

    assert effects[0] == CancelTimers()
    assert pages(effects) == [Notify("alice", SMS_VOICE, Purpose.PAGE, 0, "triggered", Stage(0, 0, 1))]
    assert timers(effects) == [ScheduleTimer(TimerKind.ACK_TIMEOUT, minutes(5), 1)]
    assert effects[-1] == timers(effects)[0]
    assert kinds(effects) == ["triggered", "paged"]
    assert (incident.step, incident.cycle, incident.version, incident.state) == (0, 0, 1, TRIGGERED)
    assert incident.paged == {"alice"}
    assert incident.stage_paged == ("alice",)


def test_ack_timeout_pages_the_next_step_people_deduplicated_in_order() -> None:
    pol = policy(step("roster:infra"), step("roster:infra/secondary", "person:manager", "person:bob"))
    incident, effects = fire(triggered(pol), TimerKind.ACK_TIMEOUT, minutes(5))

    assert paged_people(effects) == ["bob", "manager"]
    assert {n.reason for n in pages(effects)} == {"ack_timeout"}
    assert {n.step for n in pages(effects)} == {1}
    assert kinds(effects) == ["ack_timeout", "paged"]
    assert effects[0] == CancelTimers()
    assert timers(effects) == [ScheduleTimer(TimerKind.ACK_TIMEOUT, minutes(10), 2)]
    assert incident.step == 1
    assert incident.paged == {"alice", "bob", "manager"}
    assert incident.stage_paged == ("bob", "manager")


def test_gap_is_recorded_and_the_step_skipped_at_once() -> None:
    pol = policy(step("roster:weekend"), step("roster:infra"))
    incident, effects = decide(new_incident(pol), Triggered(), NOW)

    assert kinds(effects) == ["triggered", "gap", "step_skipped", "paged"]
    gap = records(effects, "gap")[0]
    assert "weekend" in gap.text
    assert "primary" in gap.text
    assert "step 1" in gap.text.lower()
    assert paged_people(effects) == ["alice"]
    assert pages(effects)[0].step == 1
    assert incident.step == 1
    assert timers(effects) == [ScheduleTimer(TimerKind.ACK_TIMEOUT, minutes(5), 1)]


def test_a_gap_beside_someone_on_call_still_pages_that_person() -> None:
    incident, effects = decide(new_incident(policy(step("roster:weekend", "roster:infra"))), Triggered(), NOW)
    assert kinds(effects) == ["triggered", "gap", "paged"]
    assert paged_people(effects) == ["alice"]
    assert incident.step == 0


def test_all_steps_empty_without_crisis_cell_is_exhausted_with_no_timers() -> None:
    pol = policy(step("roster:weekend"), step("roster:weekend/primary"))
    incident, effects = decide(new_incident(pol), Triggered(), NOW)

    assert kinds(effects) == ["triggered", "gap", "step_skipped", "gap", "step_skipped", "exhausted"]
    assert timers(effects) == []
    assert effects[0] == CancelTimers()
    assert pages(effects) == []
    assert incident.state == TRIGGERED
    assert incident.step == 1


def test_all_steps_empty_skips_the_remaining_repeats_instead_of_looping() -> None:
    pol = policy(step("roster:weekend"), step("roster:weekend"), repeat=5)
    incident, effects = decide(new_incident(pol), Triggered(), NOW)

    assert kinds(effects).count("step_skipped") == 2
    assert kinds(effects)[-2:] == ["repeat_skipped", "exhausted"]
    assert incident.cycle == 5


def test_all_steps_empty_goes_straight_to_the_crisis_cell() -> None:
    pol = policy(step("roster:weekend"), crisis=CELL)
    incident, effects = decide(new_incident(pol), Triggered(), NOW)

    assert paged_people(effects) == ["director", "cto", "comms"]
    assert incident.crisis
    assert "crisis" in kinds(effects)


def test_unresolvable_target_is_recorded_not_raised() -> None:
    pol = policy(step("roster:nowhere", "roster:infra/tertiary", "person:carol"))
    _, effects = decide(new_incident(pol), Triggered(), NOW)

    assert kinds(effects) == ["triggered", "unresolvable", "unresolvable", "paged"]
    assert paged_people(effects) == ["carol"]


def test_step_callout_leaves_out_people_who_already_acked() -> None:
    incident = triggered(policy(step("roster:infra", "person:bob"), ack=AckRule(quorum=2)))
    incident, _ = decide(incident, Acked("alice"), NOW)
    callout = step_callout(incident, 0, NOW)
    assert callout.people == ("bob",)
    assert callout.already_acked == ("alice",)


def test_timers_are_never_due_before_now() -> None:
    pol = policy(Step((Target.parse("person:alice"),), ("sms",), timedelta(0)))
    _, effects = decide(new_incident(pol), Triggered(), NOW)
    assert timers(effects)[0].due_at == NOW


# --- single acknowledgement ---------------------------------------------------------------------------


def test_single_ack_stops_escalation() -> None:
    incident, effects = decide(triggered(), Acked("alice", via="sms"), minutes(2))

    assert incident.state == ACKNOWLEDGED
    assert incident.acked_by == ("alice",)
    assert incident.version == 2
    assert effects[0] == CancelTimers()
    assert timers(effects) == []
    assert pages(effects) == []
    ack = records(effects, "acknowledged")[0]
    assert "alice" in ack.text
    assert "via sms" in ack.text
    assert ack.person == "alice"


def test_single_ack_with_reack_after_arms_the_expiry() -> None:
    pol = policy(*STANDARD, ack=AckRule(reack_after=timedelta(hours=4)))
    _, effects = decide(triggered(pol), Acked("alice"), minutes(2))
    assert timers(effects) == [ScheduleTimer(TimerKind.ACK_EXPIRY, minutes(2) + timedelta(hours=4), 2)]


def test_confirmed_in_single_mode_is_an_ack() -> None:
    incident, effects = decide(triggered(), Confirmed("alice"), minutes(1))
    assert incident.state == ACKNOWLEDGED
    assert incident.acked_by == ("alice",)
    assert incident.confirmed_by == ()
    assert kinds(effects) == ["acknowledged"]


def test_only_people_paged_for_the_incident_may_ack() -> None:
    incident = triggered()
    after, effects = decide(incident, Acked("mallory", via="sms"), minutes(1))
    assert after == incident
    assert kinds(effects) == ["refused"]
    assert records(effects)[0].person == "mallory"


def test_an_admin_may_ack_without_being_paged() -> None:
    incident, effects = decide(triggered(), Acked("root", admin=True, via="cli"), minutes(1))
    assert incident.state == ACKNOWLEDGED
    assert incident.acked_by == ("root",)
    assert "via cli" in records(effects, "acknowledged")[0].text


def test_an_admin_who_acked_may_confirm_and_repeat_without_admin() -> None:
    incident, _ = decide(triggered(policy(*STANDARD, ack=DOUBLE)), Acked("root", admin=True), minutes(1))
    same, effects = decide(incident, Acked("root"), minutes(2))
    assert same == incident
    assert kinds(effects) == ["duplicate"]
    incident, _ = decide(incident, Confirmed("root"), minutes(3))
    assert incident.state == CONFIRMED


def test_someone_paged_on_an_earlier_step_may_still_ack() -> None:
    incident, _ = fire(triggered(), TimerKind.ACK_TIMEOUT, minutes(5))
    incident, _ = decide(incident, Acked("alice"), minutes(6))
    assert incident.state == ACKNOWLEDGED


def test_duplicate_ack_is_a_no_op() -> None:
    incident, _ = decide(triggered(), Acked("alice"), minutes(1))
    after, effects = decide(incident, Acked("alice", via="voice"), minutes(2))
    assert after == incident
    assert effects == [records(effects)[0]]
    assert kinds(effects) == ["duplicate"]


def test_a_second_person_acking_once_acknowledged_is_only_noted() -> None:
    incident, _ = fire(triggered(), TimerKind.ACK_TIMEOUT, minutes(5))
    incident, _ = decide(incident, Acked("alice"), minutes(6))
    after, effects = decide(incident, Acked("bob"), minutes(7))
    assert after.acked_by == ("alice", "bob")
    assert after.version == incident.version
    assert kinds(effects) == ["ack_noted"]


# --- quorum -------------------------------------------------------------------------------------------


def test_quorum_two_needs_two_distinct_people() -> None:
    pol = policy(step("roster:infra", "roster:infra/secondary"), step("person:manager"), ack=QUORUM_2)
    incident = triggered(pol)

    incident, effects = decide(incident, Acked("alice"), minutes(1))
    assert incident.state == TRIGGERED
    assert kinds(effects) == ["ack_partial"]
    assert "1 of 2" in records(effects)[0].text
    assert incident.version == 1  # escalation keeps running: timers untouched

    same, effects = decide(incident, Acked("alice"), minutes(2))
    assert same == incident
    assert kinds(effects) == ["duplicate"]

    incident, effects = decide(incident, Acked("bob"), minutes(3))
    assert incident.state == ACKNOWLEDGED
    assert incident.acked_by == ("alice", "bob")
    assert kinds(effects) == ["acknowledged"]


def test_partial_ackers_are_not_paged_again_on_later_steps() -> None:
    pol = policy(step("roster:infra", "person:carol"), step("roster:infra", "person:dave"), ack=QUORUM_2)
    incident, _ = decide(triggered(pol), Acked("alice"), minutes(1))
    incident, effects = fire(incident, TimerKind.ACK_TIMEOUT, minutes(5))
    assert paged_people(effects) == ["dave"]
    assert "only 1 of 2" in records(effects, "ack_timeout")[0].text
    assert incident.acked_by == ("alice",)
    incident, _ = decide(incident, Acked("dave"), minutes(6))
    assert incident.state == ACKNOWLEDGED


def test_a_step_whose_people_all_acked_is_skipped() -> None:
    pol = policy(step("roster:infra"), step("roster:infra"), step("person:carol"), ack=AckRule(quorum=2))
    incident, _ = decide(triggered(pol), Acked("alice"), minutes(1))
    incident, effects = fire(incident, TimerKind.ACK_TIMEOUT, minutes(5))
    assert kinds(effects) == ["ack_timeout", "step_skipped", "paged"]
    assert "alice already acknowledged" in records(effects, "step_skipped")[0].text
    assert paged_people(effects) == ["carol"]
    assert incident.step == 2


# --- double acknowledgement ---------------------------------------------------------------------------


def test_double_ack_then_confirm() -> None:
    rule = AckRule(AckMode.DOUBLE, timedelta(minutes=20), reack_after=timedelta(hours=4))
    pol = policy(*STANDARD, ack=rule)
    incident, effects = decide(triggered(pol), Acked("alice", via="sms"), minutes(1))
    assert incident.state == ACKNOWLEDGED
    assert timers(effects) == [
        ScheduleTimer(TimerKind.CONFIRM_TIMEOUT, minutes(21), 2),
        ScheduleTimer(TimerKind.ACK_EXPIRY, minutes(1) + timedelta(hours=4), 2),
    ]
    assert "confirmation expected within 20m" in records(effects, "acknowledged")[0].text

    incident, effects = decide(incident, Confirmed("alice", via="voice"), minutes(3))
    assert incident.state == CONFIRMED
    assert incident.confirmed_by == ("alice",)
    assert effects[0] == CancelTimers()
    assert timers(effects) == []
    assert incident.version == 3
    assert kinds(effects) == ["confirmed"]
    # Whichever timer was pending is now fenced off.
    assert fire(incident, TimerKind.ACK_EXPIRY, minutes(300))[1] == []
    assert decide(incident, TimerFired(TimerKind.CONFIRM_TIMEOUT, 2), minutes(30)) == (incident, [])


def test_confirm_while_triggered_counts_as_ack_and_confirmation() -> None:
    incident, effects = decide(triggered(policy(*STANDARD, ack=DOUBLE)), Confirmed("alice"), minutes(1))
    assert incident.state == CONFIRMED
    assert incident.acked_by == ("alice",)
    assert incident.confirmed_by == ("alice",)
    assert timers(effects) == []
    assert effects[0] == CancelTimers()


def test_double_quorum_two_confirmations_need_two_people() -> None:
    pol = policy(step("roster:infra", "roster:infra/secondary"), ack=DOUBLE_QUORUM_2)
    incident = triggered(pol)
    incident, effects = decide(incident, Confirmed("alice"), minutes(1))
    assert incident.state == TRIGGERED
    assert kinds(effects) == ["confirm_partial"]
    incident, effects = decide(incident, Acked("bob"), minutes(2))
    assert incident.state == ACKNOWLEDGED
    assert [t.kind for t in timers(effects)] == [TimerKind.CONFIRM_TIMEOUT]
    incident, effects = decide(incident, Confirmed("alice"), minutes(3))
    assert kinds(effects) == ["duplicate"]
    incident, effects = decide(incident, Confirmed("bob"), minutes(4))
    assert incident.state == CONFIRMED
    assert incident.confirmed_by == ("alice", "bob")


def test_confirm_reaching_ack_quorum_but_not_confirm_quorum_acknowledges() -> None:
    pol = policy(step("roster:infra", "roster:infra/secondary"), ack=DOUBLE_QUORUM_2)
    incident, _ = decide(triggered(pol), Acked("alice"), minutes(1))
    incident, effects = decide(incident, Confirmed("bob"), minutes(2))
    assert incident.state == ACKNOWLEDGED
    assert kinds(effects) == ["acknowledged", "confirm_partial"]
    assert [t.kind for t in timers(effects)] == [TimerKind.CONFIRM_TIMEOUT]


def test_confirm_timeout_resumes_at_the_next_step_and_tells_the_acker() -> None:
    incident, _ = decide(triggered(policy(*STANDARD, ack=DOUBLE)), Acked("alice"), minutes(1))
    incident, effects = fire(incident, TimerKind.CONFIRM_TIMEOUT, minutes(21))

    assert incident.state == TRIGGERED
    assert incident.acked_by == ()
    assert incident.confirmed_by == ()
    assert statuses(effects) == [Notify("alice", SMS_VOICE, Purpose.STATUS, 0, "confirm_timeout")]
    assert paged_people(effects) == ["bob", "manager"]
    assert {n.reason for n in pages(effects)} == {"confirm_timeout"}
    assert incident.step == 1
    assert kinds(effects) == ["confirm_timeout", "paged"]
    assert timers(effects) == [ScheduleTimer(TimerKind.ACK_TIMEOUT, minutes(31), incident.version)]


def test_the_unconfirmed_acker_may_ack_again_after_a_confirm_timeout() -> None:
    incident, _ = decide(triggered(policy(*STANDARD, ack=DOUBLE)), Acked("alice"), minutes(1))
    incident, _ = fire(incident, TimerKind.CONFIRM_TIMEOUT, minutes(21))
    incident, effects = decide(incident, Acked("alice"), minutes(22))
    assert incident.state == ACKNOWLEDGED
    assert kinds(effects) == ["acknowledged"]


# --- ack expiry ---------------------------------------------------------------------------------------


def test_ack_expiry_retriggers_and_repages_the_current_step() -> None:
    pol = policy(*STANDARD, ack=AckRule(reack_after=timedelta(hours=4)))
    incident, _ = decide(triggered(pol), Acked("alice"), minutes(1))
    later = minutes(1) + timedelta(hours=4)
    incident, effects = fire(incident, TimerKind.ACK_EXPIRY, later)

    assert incident.state == TRIGGERED
    assert incident.acked_by == ()
    assert incident.step == 0
    assert pages(effects) == [Notify("alice", SMS_VOICE, Purpose.PAGE, 0, "reack", current(incident))]
    assert current(incident) == Stage(0, 0, 3)  # paged (1), acknowledged (2), paged again (3)
    assert statuses(effects) == [Notify("alice", SMS_VOICE, Purpose.STATUS, 0, "ack_expired")]
    assert kinds(effects) == ["ack_expired", "paged"]
    assert timers(effects) == [ScheduleTimer(TimerKind.ACK_TIMEOUT, later + FIVE_MINUTES, incident.version)]


def test_ack_expiry_in_double_mode_disarms_the_confirm_timeout() -> None:
    pol = policy(*STANDARD, ack=AckRule(AckMode.DOUBLE, timedelta(hours=5), reack_after=timedelta(hours=1)))
    acked, _ = decide(triggered(pol), Acked("alice"), minutes(1))
    incident, _ = fire(acked, TimerKind.ACK_EXPIRY, minutes(61))
    assert decide(incident, TimerFired(TimerKind.CONFIRM_TIMEOUT, acked.version), minutes(301)) == (
        incident,
        [],
    )


def test_ack_expiry_of_an_admin_ack_tells_the_admin_and_pages_the_step() -> None:
    pol = policy(*STANDARD, ack=AckRule(reack_after=timedelta(hours=4)))
    incident, _ = decide(triggered(pol), Acked("root", admin=True), minutes(1))
    incident, effects = fire(incident, TimerKind.ACK_EXPIRY, minutes(241))
    assert [n.person for n in statuses(effects)] == ["root"]
    assert paged_people(effects) == ["alice"]


# --- escalate now -------------------------------------------------------------------------------------


def test_escalate_now_jumps_to_the_next_step() -> None:
    incident, effects = decide(triggered(), EscalateRequested("alice", via="sms"), minutes(1))
    assert kinds(effects) == ["escalate_requested", "paged"]
    assert "alice asked to escalate via sms" in records(effects)[0].text
    assert paged_people(effects) == ["bob", "manager"]
    assert {n.reason for n in pages(effects)} == {"escalate_requested"}
    assert incident.step == 1
    assert timers(effects)[0].due_at == minutes(11)


def test_escalate_now_from_acknowledged_clears_the_ackers() -> None:
    incident, _ = fire(triggered(), TimerKind.ACK_TIMEOUT, minutes(5))  # alice, then bob + manager
    incident, _ = decide(incident, Acked("alice"), minutes(6))
    incident, _ = decide(incident, Acked("bob"), minutes(6))
    incident, effects = decide(incident, EscalateRequested("bob"), minutes(7))
    assert incident.state == TRIGGERED
    assert incident.acked_by == ()
    assert [n.person for n in statuses(effects)] == ["alice"]  # the requester is not told
    assert incident.step == 1  # past the last step: exhausted, nothing more


def test_escalate_now_from_confirmed_resumes_paging() -> None:
    incident, _ = decide(triggered(policy(*STANDARD, ack=DOUBLE)), Confirmed("alice"), minutes(1))
    incident, effects = decide(incident, EscalateRequested("alice"), minutes(2))
    assert incident.state == TRIGGERED
    assert paged_people(effects) == ["bob", "manager"]


def test_escalate_by_someone_not_paged_is_refused() -> None:
    incident = triggered()
    text = "mallory may not escalate: not paged for this incident and not an admin"
    assert decide(incident, EscalateRequested("mallory"), minutes(1)) == (
        incident,
        [Record("refused", text, "mallory")],
    )


def test_escalate_in_the_crisis_cell_pages_the_cell_again() -> None:
    pol = policy(step("person:alice"), crisis=CELL)
    incident, _ = fire(triggered(pol), TimerKind.ACK_TIMEOUT, minutes(5))
    incident, effects = decide(incident, EscalateRequested("cto"), minutes(6))
    assert paged_people(effects) == ["director", "cto", "comms"]
    assert kinds(effects) == ["escalate_requested", "crisis_repeat"]


# --- resolve ------------------------------------------------------------------------------------------


def test_resolve_cancels_everything() -> None:
    incident, effects = decide(triggered(), Resolved("alice", via="email"), minutes(1))
    assert incident.state == RESOLVED
    assert incident.version == 2
    assert effects == [
        CancelTimers(),
        CancelNotifications(),
        Record("resolved", "Resolved by alice via email", "alice"),
    ]


def test_resolve_by_the_alarm_source() -> None:
    incident, effects = decide(triggered(), Resolved(), minutes(1))
    assert incident.state == RESOLVED
    assert records(effects, "resolved")[0].text == "Resolved by the alarm source"


def test_resolve_by_someone_not_paged_is_refused_and_by_an_admin_accepted() -> None:
    incident = triggered()
    after, effects = decide(incident, Resolved("mallory"), minutes(1))
    assert after == incident
    assert kinds(effects) == ["refused"]
    after, effects = decide(incident, Resolved("root", admin=True, via="cli"), minutes(1))
    assert after.state == RESOLVED


@pytest.mark.parametrize(
    "event",
    [
        Triggered(),
        AlarmAttached("again"),
        Acked("alice"),
        Confirmed("alice"),
        Resolved(),
        Resolved("alice"),
        DeliveryFailed("alice", "unreachable", Stage(0, 0, 1)),
    ],
)
def test_events_after_resolve_are_only_recorded_as_ignored(event: Event) -> None:
    incident, _ = decide(triggered(), Resolved(), minutes(1))
    after, effects = decide(incident, event, minutes(2))
    assert after == incident
    assert kinds(effects) == ["ignored"]


def test_escalate_after_resolve_is_refused() -> None:
    incident, _ = decide(triggered(), Resolved(), minutes(1))
    after, effects = decide(incident, EscalateRequested("alice"), minutes(2))
    assert after == incident
    assert kinds(effects) == ["refused"]


def test_timer_after_resolve_does_nothing_at_all() -> None:
    incident, _ = decide(triggered(), Resolved(), minutes(1))
    for kind in TimerKind:
        assert fire(incident, kind, minutes(5)) == (incident, [])
        assert decide(incident, TimerFired(kind, 1), minutes(5)) == (incident, [])


# --- fencing ------------------------------------------------------------------------------------------


def test_stale_timer_is_a_no_op() -> None:
    incident, _ = decide(triggered(), Acked("alice"), minutes(1))
    assert decide(incident, TimerFired(TimerKind.ACK_TIMEOUT, 1), minutes(5)) == (incident, [])


def test_double_wake_up_of_the_same_timer_acts_once() -> None:
    incident = triggered()
    event = TimerFired(TimerKind.ACK_TIMEOUT, incident.version)
    once, effects = decide(incident, event, minutes(5))
    assert pages(effects)
    assert decide(once, event, minutes(5)) == (once, [])


def test_timer_before_trigger_and_actions_before_trigger() -> None:
    incident = new_incident()
    assert decide(incident, TimerFired(TimerKind.ACK_TIMEOUT, 0), NOW) == (incident, [])
    after, effects = decide(incident, Acked("root", admin=True), NOW)
    assert after == incident
    assert kinds(effects) == ["ignored"]


def test_second_trigger_is_ignored() -> None:
    incident = triggered()
    after, effects = decide(incident, Triggered(), minutes(1))
    assert after == incident
    assert kinds(effects) == ["ignored"]


# --- repeat and crisis cell ---------------------------------------------------------------------------


def test_repeat_then_crisis_cell_with_bridge() -> None:
    pol = policy(step("roster:infra"), step("person:manager"), repeat=1, crisis=CELL)
    incident = triggered(pol)
    incident, _ = fire(incident, TimerKind.ACK_TIMEOUT, minutes(5))  # step 2, pass 1
    incident, effects = fire(incident, TimerKind.ACK_TIMEOUT, minutes(10))  # step 1, pass 2
    assert kinds(effects) == ["ack_timeout", "repeated", "paged"]
    assert paged_people(effects) == ["alice"]
    assert (incident.cycle, incident.step) == (1, 0)
    incident, _ = fire(incident, TimerKind.ACK_TIMEOUT, minutes(15))  # step 2, pass 2
    incident, effects = fire(incident, TimerKind.ACK_TIMEOUT, minutes(20))

    assert incident.crisis
    assert incident.quorum == 2
    assert pages(effects) == [
        Notify(person, ("sms", "voice", "email"), Purpose.PAGE, None, "crisis", Stage(1, None, incident.version))
        for person in ("director", "cto", "comms")
    ]
    crisis = records(effects, "crisis")[0]
    assert "+33123456789" in crisis.text
    assert timers(effects) == []  # no repeat_every
    assert effects[0] == CancelTimers()


def test_crisis_cell_quorum_and_repeat_pages_only_those_who_have_not_acked() -> None:
    cell = CrisisCell(("director", "cto", "comms"), SMS_VOICE, quorum=2, repeat_every=timedelta(minutes=15))
    incident, effects = fire(triggered(policy(step("person:alice"), crisis=cell)), ACK_TIMEOUT, minutes(5))
    assert timers(effects) == [ScheduleTimer(TimerKind.CRISIS_REPEAT, minutes(20), incident.version)]
    assert "bridge" not in records(effects, "crisis")[0].text

    incident, effects = decide(incident, Acked("cto"), minutes(6))
    assert kinds(effects) == ["ack_partial"]
    incident, effects = fire(incident, TimerKind.CRISIS_REPEAT, minutes(20))
    assert paged_people(effects) == ["director", "comms"]
    assert {n.reason for n in pages(effects)} == {"crisis_repeat"}
    assert {n.step for n in pages(effects)} == {None}
    assert timers(effects) == [ScheduleTimer(TimerKind.CRISIS_REPEAT, minutes(35), incident.version)]

    incident, effects = decide(incident, Acked("comms"), minutes(21))
    assert incident.state == ACKNOWLEDGED
    assert timers(effects) == []


def test_entering_the_crisis_cell_starts_a_new_ack_stage() -> None:
    pol = policy(step("roster:infra", "person:carol"), ack=AckRule(quorum=2), crisis=CELL)
    incident, _ = decide(triggered(pol), Acked("alice"), minutes(1))
    incident, effects = fire(incident, TimerKind.ACK_TIMEOUT, minutes(5))
    assert incident.crisis
    assert paged_people(effects) == ["director", "cto", "comms"]
    assert incident.acked_by == ()
    incident, _ = decide(incident, Acked("alice"), minutes(6))  # alice was paged: she may ack
    assert incident.state == TRIGGERED  # crisis quorum 2 not yet met
    incident, _ = decide(incident, Acked("director"), minutes(7))
    assert incident.state == ACKNOWLEDGED


def test_ack_expiry_in_the_crisis_cell_pages_the_cell_again() -> None:
    pol = policy(step("person:alice"), ack=AckRule(reack_after=timedelta(hours=1)), crisis=CELL)
    incident, _ = fire(triggered(pol), TimerKind.ACK_TIMEOUT, minutes(5))
    incident, _ = run(incident, Acked("cto"), Acked("comms"), at=minutes(6))
    assert incident.state == ACKNOWLEDGED
    incident, effects = fire(incident, TimerKind.ACK_EXPIRY, minutes(66))
    assert paged_people(effects) == ["director", "cto", "comms"]
    assert {n.reason for n in pages(effects)} == {"reack"}
    assert sorted(n.person for n in statuses(effects)) == ["comms", "cto"]


def test_exhausted_incident_can_still_be_acked() -> None:
    incident, effects = fire(triggered(policy(step("roster:infra"))), TimerKind.ACK_TIMEOUT, minutes(5))
    assert kinds(effects) == ["ack_timeout", "exhausted"]
    assert incident.state == TRIGGERED
    assert timers(effects) == []
    incident, _ = decide(incident, Acked("alice"), minutes(30))
    assert incident.state == ACKNOWLEDGED


# --- delivery failures and attached alarms ------------------------------------------------------------


def test_delivery_failure_of_everyone_on_the_step_escalates_early() -> None:
    incident = triggered()
    incident, effects = decide(incident, failed(incident, "alice", "no route to +336…"), minutes(1))
    assert kinds(effects) == ["delivery_failed", "unreachable", "paged"]
    assert "no route" in records(effects, "delivery_failed")[0].text
    assert paged_people(effects) == ["bob", "manager"]
    assert {n.reason for n in pages(effects)} == {"undeliverable"}
    assert incident.step == 1
    assert incident.undeliverable == frozenset()


def test_delivery_failure_of_part_of_the_step_only_records() -> None:
    incident, _ = fire(triggered(), TimerKind.ACK_TIMEOUT, minutes(5))
    after, effects = decide(incident, failed(incident, "bob", "bounced"), minutes(6))
    assert kinds(effects) == ["delivery_failed"]
    assert after.undeliverable == {"bob"}
    assert after.version == incident.version
    after, effects = decide(after, failed(after, "manager", "bounced"), minutes(7))
    assert kinds(effects) == ["delivery_failed", "unreachable", "exhausted"]


def test_delivery_failure_once_acknowledged_does_not_escalate() -> None:
    paged = triggered()
    incident, _ = decide(paged, Acked("alice"), minutes(1))
    after, effects = decide(incident, failed(paged, "alice", "late failure"), minutes(2))
    assert kinds(effects) == ["delivery_failed"]
    assert after.state == ACKNOWLEDGED


def test_alarm_attached_is_only_recorded() -> None:
    incident = triggered()
    after, effects = decide(incident, AlarmAttached("db-prod still down"), minutes(1))
    assert after == incident
    assert effects == [Record("alarm_attached", "Another alarm attached: db-prod still down")]
