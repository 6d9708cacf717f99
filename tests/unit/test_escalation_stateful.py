"""Stateful property test of ``decide``: random sequences of events against a fake clock.

The machine feeds ``decide`` acks, confirmations, escalations, resolutions, delivery failures and the
timers ``decide`` itself scheduled (plus stale ones), moving an internal "now" forward only, and checks
after every decision that: nothing is sent after a resolve; nobody is paged once the ack quorum is met
unless the ack expired, the confirmation timed out or someone asked to escalate; a quorum is made of
distinct people who really acked; timers are never due before now and their versions only go up;
acking (or confirming) twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from memoguard.domain.effect import CancelTimers, Effect, Notify, Purpose, Record, ScheduleTimer
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
from memoguard.domain.policy import AckMode, AckRule, CrisisCell, Policy, Step, Target
from memoguard.domain.roster import Layer, Level, Roster, Window
from memoguard.domain.stage import is_current

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 1, 6, 3, 0, tzinfo=UTC)
WEEKENDS = Window(days=frozenset({5, 6}))
INFRA = Roster(
    "infra",
    PARIS,
    (Layer("l", ("alice", "bob", "carol"), timedelta(days=1), datetime(2026, 1, 5, 9, 0)),),
    (Level("secondary", offset=1),),
)
WEEKEND = Roster(
    "weekend",
    PARIS,
    (Layer("w", ("wendy",), timedelta(weeks=1), datetime(2026, 1, 5, 9, 0), (WEEKENDS,)),),
)
PEOPLE = ("alice", "bob", "carol", "wendy", "manager", "director", "cto", "comms", "mallory")
RELEASING = (TimerKind.ACK_EXPIRY, TimerKind.CONFIRM_TIMEOUT)
ACKED_STATES = (IncidentState.ACKNOWLEDGED, IncidentState.CONFIRMED)


def step(*targets: str, within: int = 5) -> Step:
    return Step(tuple(Target.parse(t) for t in targets), ("sms", "voice"), timedelta(minutes=within))


POLICIES = (
    Policy(
        "single-repeat",
        (step("roster:infra"), step("roster:infra/secondary", "person:manager", within=10)),
        AckRule(reack_after=timedelta(hours=1)),
        repeat=1,
    ),
    Policy(
        "double-crisis",
        (step("roster:weekend", "roster:infra"), step("person:carol")),
        AckRule(AckMode.DOUBLE, timedelta(minutes=20), reack_after=timedelta(hours=2)),
        crisis_cell=CrisisCell(
            ("director", "cto", "comms"), ("sms",), 2, "+33123456789", repeat_every=timedelta(minutes=15)
        ),
    ),
    Policy(
        "single-quorum",
        (step("roster:infra", "roster:infra/secondary"), step("person:carol", "person:manager")),
        AckRule(quorum=2),
        crisis_cell=CrisisCell(("director", "cto"), ("voice",), 2),
    ),
    Policy(
        "double-quorum",
        (step("roster:infra", "person:bob", "person:carol", within=3), step("roster:weekend")),
        AckRule(AckMode.DOUBLE, timedelta(minutes=10), quorum=2, reack_after=timedelta(minutes=30)),
        repeat=2,
        crisis_cell=CrisisCell(("director", "cto", "comms"), ("sms",), 1, repeat_every=timedelta(minutes=10)),
    ),
    Policy("gaps", (step("roster:weekend"), step("roster:weekend")), repeat=3),
)


class EscalationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.incident = Incident("inc", "db-prod down", POLICIES[0], (INFRA, WEEKEND), START)
        self.pending: list[ScheduleTimer] = []
        self.highest_version_scheduled = 0
        self.claimed_acks: set[str] = set()  # everyone who ever sent an ack or a confirmation
        self.pages: list[Notify] = []  # every page drafted so far, with its stage

    # --- driving decide -------------------------------------------------------------------------------

    def apply(self, event: Event) -> tuple[Incident, list[Effect]]:
        before = self.incident
        after, effects = decide(before, event, self.now)
        self.check_decision(before, event, after, effects)
        self.incident = after
        if CancelTimers() in effects:
            self.pending = []
        self.pending += [e for e in effects if isinstance(e, ScheduleTimer)]
        self.pages += [e for e in effects if isinstance(e, Notify) and e.purpose == Purpose.PAGE]
        return after, effects

    def check_decision(self, before: Incident, event: Event, after: Incident, effects: list[Effect]) -> None:
        notifies = [e for e in effects if isinstance(e, Notify)]
        pages = [n for n in notifies if n.purpose == Purpose.PAGE]
        schedules = [e for e in effects if isinstance(e, ScheduleTimer)]

        # Nothing is sent, and nothing changes, once resolved.
        if before.state == IncidentState.RESOLVED:
            assert after == before
            assert all(isinstance(e, Record) for e in effects)
            assert not notifies
        if after.state == IncidentState.RESOLVED:
            assert not notifies

        # No page after a valid ack, unless the ack expired, the confirmation timed out or someone escalated.
        if before.state in ACKED_STATES and pages:
            released = isinstance(event, TimerFired) and event.kind in RELEASING
            assert released or isinstance(event, EscalateRequested), (event, pages)
            assert after.state == IncidentState.TRIGGERED
        assert not any(n.person in after.acked_by for n in pages)

        # A quorum is made of distinct people who did ack.
        assert len(set(after.acked_by)) == len(after.acked_by)
        assert len(set(after.confirmed_by)) == len(after.confirmed_by)
        assert set(after.confirmed_by) <= set(after.acked_by)
        assert set(after.acked_by) <= self.claimed_acks
        if after.state in ACKED_STATES:
            assert len(after.acked_by) >= after.quorum
        if after.state == IncidentState.CONFIRMED:
            assert len(after.confirmed_by) >= after.quorum
        if after.state in ACKED_STATES and before.state == IncidentState.TRIGGERED:
            assert isinstance(event, Acked | Confirmed)
            assert event.admin or event.person in before.paged

        # Timers never go backwards; the version moves exactly when timers are replaced.
        cancels = effects.count(CancelTimers())
        assert cancels <= 1
        assert after.version == before.version + cancels
        if schedules:
            assert effects[0] == CancelTimers()
        for timer in schedules:
            assert timer.due_at >= self.now
            assert timer.version == after.version > self.highest_version_scheduled
        if schedules:
            self.highest_version_scheduled = after.version

        # A stale timer does nothing at all.
        if isinstance(event, TimerFired) and event.version != before.version:
            assert (after, effects) == (before, [])

        # Every page belongs to the stage its decision starts, current until something ends it; a
        # delivery failure of a stage that is over is only recorded.
        for page in pages:
            assert page.stage is not None and page.stage.version == after.version
            assert is_current(after, page.stage)
        if isinstance(event, DeliveryFailed) and not is_current(before, event.stage):
            assert after == before
            assert [type(e) for e in effects] == [Record]

    # --- rules ----------------------------------------------------------------------------------------

    @initialize(policy=st.sampled_from(POLICIES))
    def trigger(self, policy: Policy) -> None:
        self.incident = Incident("inc", "db-prod down", policy, (INFRA, WEEKEND), START)
        self.apply(Triggered())

    def someone(self, data: st.DataObject) -> str:
        """Half the time someone paged for the incident, else anyone (maybe never paged)."""
        paged = sorted(self.incident.paged) or list(PEOPLE)
        return data.draw(st.sampled_from(paged) | st.sampled_from(PEOPLE))

    @rule(data=st.data(), admin=st.booleans(), confirm=st.booleans())
    def ack(self, data: st.DataObject, admin: bool, confirm: bool) -> None:
        person = self.someone(data)
        self.claimed_acks.add(person)
        self.apply(Confirmed(person, admin, "sms") if confirm else Acked(person, admin, "sms"))

    @precondition(lambda self: self.incident.acked_by)
    @rule(index=st.integers(min_value=0, max_value=5), admin=st.booleans())
    def ack_twice(self, index: int, admin: bool) -> None:
        before = self.incident
        person = before.acked_by[index % len(before.acked_by)]
        after, effects = self.apply(Acked(person, admin, "voice"))
        assert after == before
        assert [type(e) for e in effects] == [Record]
        assert isinstance(effects[0], Record)
        assert effects[0].kind == ("ignored" if before.state == IncidentState.RESOLVED else "duplicate")

    @precondition(lambda self: self.incident.confirmed_by)
    @rule(index=st.integers(min_value=0, max_value=5))
    def confirm_twice(self, index: int) -> None:
        before = self.incident
        person = before.confirmed_by[index % len(before.confirmed_by)]
        after, effects = self.apply(Confirmed(person))
        assert after == before
        assert [type(e) for e in effects] == [Record]

    @rule(data=st.data(), admin=st.booleans())
    def escalate(self, data: st.DataObject, admin: bool) -> None:
        self.apply(EscalateRequested(self.someone(data), admin, "cli"))

    # Resolving ends the interesting part and delivery failures escalate at once: both are made rarer
    # than the other rules (``roll``) so that runs reach expiries, confirm timeouts and the crisis cell.
    @rule(data=st.data(), admin=st.booleans(), by_source=st.booleans(), roll=st.integers(0, 5))
    def resolve(self, data: st.DataObject, admin: bool, by_source: bool, roll: int) -> None:
        if roll == 0:
            self.apply(Resolved(None if by_source else self.someone(data), admin))

    @precondition(lambda self: self.pages)
    @rule(data=st.data(), roll=st.integers(0, 3))
    def delivery_fails(self, data: st.DataObject, roll: int) -> None:
        """A page of the current stage (half the time, when there is one), else any page drafted so far."""
        if roll == 0:
            live = [p for p in self.pages if p.stage is not None and p.stage.version == self.incident.version]
            page = data.draw(
                st.sampled_from(live) | st.sampled_from(self.pages) if live else st.sampled_from(self.pages)
            )
            assert page.stage is not None
            self.apply(DeliveryFailed(page.person, "no route", page.stage))

    @rule(roll=st.integers(0, 3))
    def alarm_attached(self, roll: int) -> None:
        if roll:
            return
        before = self.incident
        after, effects = self.apply(AlarmAttached("again"))
        assert after == before
        assert [type(e) for e in effects] == [Record]

    @rule(minutes=st.integers(min_value=1, max_value=600))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @precondition(lambda self: self.pending)
    @rule()
    def earliest_timer_fires(self) -> None:
        timer = min(self.pending, key=lambda t: t.due_at)
        self.pending.remove(timer)
        self.now = max(self.now, timer.due_at)
        self.apply(TimerFired(timer.kind, timer.version))

    @precondition(lambda self: self.incident.version > 0)
    @rule(kind=st.sampled_from(TimerKind), back=st.integers(min_value=1, max_value=3))
    def stale_timer_fires(self, kind: TimerKind, back: int) -> None:
        before = self.incident
        assert self.apply(TimerFired(kind, before.version - back)) == (before, [])

    # --- invariants -----------------------------------------------------------------------------------

    @invariant()
    def an_open_double_ack_awaits_its_confirmation(self) -> None:
        incident = self.incident
        if incident.state == IncidentState.ACKNOWLEDGED and incident.policy.ack.mode == AckMode.DOUBLE:
            current = [t.kind for t in self.pending if t.version == incident.version]
            assert TimerKind.CONFIRM_TIMEOUT in current

    @invariant()
    def a_paging_step_has_its_ack_timeout(self) -> None:
        incident = self.incident
        if incident.state == IncidentState.TRIGGERED and not incident.crisis and self.pending:
            current = [t for t in self.pending if t.version == incident.version]
            assert [t.kind for t in current] in ([], [TimerKind.ACK_TIMEOUT])


EscalationMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestEscalation = EscalationMachine.TestCase
