"""The incident state machine: ``decide(incident, event, now) -> (incident', effects)``.

``decide`` is pure: it reads no clock (``now`` is given), does no I/O and never raises for an event it
cannot act on — that lands on the timeline instead. Effects come back in the order the services must
apply them, in one transaction.

Paging. A step pages the people its targets resolve to at ``now`` (see ``paging``), except those who
already acknowledged in the current ack stage, on the step's channels, and arms ACK_TIMEOUT at
``now + ack_within``. A step that pages nobody (gaps, unresolvable targets, everyone already acked) is
recorded as ``step_skipped`` and the next step is paged at once, at the same ``now``. After the last
step the steps start over while ``cycle < policy.repeat``; then the crisis cell is paged all at once
(``crisis``), or, without one, the escalation is ``exhausted``: no more timers, the incident stays
TRIGGERED and can still be acknowledged, escalated or resolved. If a whole pass over the steps paged
nobody within one decision, the remaining repeats would page nobody either (same instant, same
rosters), so they are skipped (``repeat_skipped``): the walk is bounded and never loops.

Ack stages. ``acked_by``/``confirmed_by`` collect distinct people until ``incident.quorum`` is met;
while it is not, escalation carries on untouched and later steps do not page the partial ackers again.
The crisis cell has a quorum of its own, so entering it starts a new ack stage (ackers cleared).
Whenever an ack stage is abandoned — ack expiry, confirm timeout, escalate-now — the incident goes back
to TRIGGERED, the ackers are cleared and each previous acker (except whoever asked to escalate) gets a
STATUS notification saying so. Beyond the crisis cell there is nothing further: once it is paged,
escalate-now and a confirm timeout page it again, and failed deliveries to it never escalate.
Confirmation implies acknowledgement: a confirmer is also added to ``acked_by``. An ack or a
confirmation by a new person once the stage is complete is noted (``ack_noted``/``confirm_noted``)
and changes nothing but the lists.

Timers. ``version`` goes up by exactly one in every decision that replaces the pending timers (or
cancels them all: acknowledged, confirmed, resolved, exhausted); such a decision's effects start with
``CancelTimers()`` and end with the new ``ScheduleTimer``s, which carry the new version. A TimerFired
with another version, or on a resolved or not yet triggered incident, does nothing at all. A due time
is never before ``now``. Double mode arms CONFIRM_TIMEOUT and (with ``reack_after``) ACK_EXPIRY
together; whichever fires first bumps the version and so disarms the other.

Stages (``domain.stage``). Every paging is a stage — (cycle, step) or the crisis cell — identified by
the version its decision ends at, and every page (``Notify.stage``) and ``DeliveryFailed`` carries the
stage it belongs to. A ``DeliveryFailed`` of a stage that is over (the incident was acknowledged,
resolved, or paged another stage, or the same one again, since) is recorded (``delivery_failed``,
saying it is late) and changes nothing else. One of the current stage marks the person unreachable on
it; when the acknowledgements so far plus the people still reachable on the stage cannot make the
quorum (with a quorum of 1: nobody paged on the step can be reached), the step escalates at once
(``unreachable``, reason ``undeliverable``). In the crisis cell there is nothing beyond: that the
quorum is out of reach is recorded once (``unreachable``).

Who may act. Acked, Confirmed, EscalateRequested and Resolved by a person need that person to have
been paged for the incident (ever, any step or the crisis cell), to be an acker of the current stage
(an admin who acked may confirm without ``admin`` again) or ``admin``; otherwise ``refused``. Acking or
confirming twice is a ``duplicate`` whoever asks, checked before the right to act.
Resolved without a person comes from the alarm source. Events on a resolved incident are ``ignored``
(EscalateRequested is ``refused``, saying why); so are events other than Triggered, AlarmAttached and
Resolved before the incident was triggered, and a second Triggered.

Notify reasons (``Notify.reason``): ``triggered``, ``ack_timeout``, ``escalate_requested``,
``undeliverable``, ``confirm_timeout``, ``ack_expired`` (STATUS to lapsed ackers), ``reack`` (page after
an expiry), ``crisis``, ``crisis_repeat``. Steps are 0-based in ``Notify.step`` and 1-based in texts.

Record kinds (``Record.kind``), stable identifiers:
  triggered, paged, gap, unresolvable, step_skipped, repeated, repeat_skipped, crisis, crisis_repeat,
  exhausted, ack_timeout, ack_partial, acknowledged, ack_noted, confirm_partial, confirmed,
  confirm_noted, confirm_timeout, ack_expired, escalate_requested, delivery_failed, unreachable,
  resolved, alarm_attached, duplicate, refused, ignored, silenced, silence_ended.

Silences (``domain.silence``). ``Silenced`` on a new incident holds it: SILENCED, nobody paged, one
SILENCE_END timer at the window's end; its TimerFired triggers it then (``silence_ended``, then what
Triggered does). Resolved while silenced pages and tells nobody. Actions other than resolving are
ignored while silenced, as before a trigger.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from memoguard.domain import silence
from memoguard.domain.decision import Decision, Timer
from memoguard.domain.duration import format_duration
from memoguard.domain.effect import (
    CancelNotifications,
    Effect,
    Notify,
    Publish,
    Purpose,
    Record,
)
from memoguard.domain.event import (
    Acked,
    Action,
    AlarmAttached,
    Confirmed,
    DeliveryFailed,
    EscalateRequested,
    Event,
    Resolved,
    Silenced,
    TimerFired,
    TimerKind,
    Triggered,
)
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.paging import crisis_callout, step_callout
from memoguard.domain.policy import AckMode
from memoguard.domain.stage import Stage, over, reach


def decide(incident: Incident, event: Event, now: datetime) -> tuple[Incident, list[Effect]]:
    """Apply ``event`` to ``incident`` at ``now``: the new incident and the effects to carry out."""
    if isinstance(event, TimerFired):
        ending = event.kind == TimerKind.SILENCE_END and incident.state == IncidentState.SILENCED
        if event.version != incident.version or not incident.is_open or (incident.step < 0 and not ending):
            return incident, []
    elif not incident.is_open:
        kind = "refused" if isinstance(event, EscalateRequested) else "ignored"
        return incident, [Record(kind, f"{_describe(event)} {kind}: the incident is resolved", _actor(event))]
    elif incident.state == IncidentState.SILENCED and isinstance(event, Triggered | Silenced):
        text = f"{_describe(event)} ignored: the incident is silenced"
        return incident, [Record("ignored", text, None)]
    elif incident.step < 0 and not isinstance(event, Triggered | Silenced | AlarmAttached | Resolved):
        text = f"{_describe(event)} ignored: the incident has not been triggered yet"
        return incident, [Record("ignored", text, _actor(event))]
    decision = Decision(incident, now)
    match event:
        case Triggered():
            _on_triggered(decision)
        case Silenced() if incident.step < 0:
            silence.hold(decision, event)
        case Silenced():
            decision.record("ignored", "Silence ignored: the incident is already triggered")
        case AlarmAttached(summary=summary):
            decision.record("alarm_attached", f"Another alarm attached: {summary}")
        case TimerFired():
            _on_timer(decision, event.kind)
        case Confirmed() if incident.policy.ack.mode == AckMode.DOUBLE:
            _on_confirmed(decision, event)
        case Acked() | Confirmed():
            _on_acked(decision, event)
        case EscalateRequested():
            _on_escalate(decision, event)
        case Resolved():
            _on_resolved(decision, event)
        case DeliveryFailed():
            _on_delivery_failed(decision, event)
    return decision.finish()


# --- events -------------------------------------------------------------------------------------------


def _on_triggered(d: Decision) -> None:
    if d.incident.step >= 0:
        d.record("ignored", "Trigger ignored: the incident is already triggered")
        return
    text = f"Incident triggered: {d.incident.summary} (policy {d.incident.policy.name!r})"
    d.record("triggered", text)
    _announce(d, "triggered", None, text)
    _advance(d, "triggered")


def _on_timer(d: Decision, kind: TimerKind) -> None:
    inc = d.incident
    if kind == TimerKind.SILENCE_END and inc.state == IncidentState.SILENCED:
        silence.release(d)
        _on_triggered(d)
        return
    if kind == TimerKind.ACK_TIMEOUT and inc.state == IncidentState.TRIGGERED and not inc.crisis:
        step = inc.policy.steps[inc.step]
        partial = f" (only {len(inc.acked_by)} of {inc.quorum} acknowledged)" if inc.acked_by else ""
        within = format_duration(step.ack_within)
        text = f"Step {inc.step + 1} was not acknowledged within {within}{partial}; escalating"
        d.record("ack_timeout", text)
        _announce(d, "escalated", None, text)
        _advance(d, "ack_timeout")
    elif kind == TimerKind.CONFIRM_TIMEOUT and inc.state == IncidentState.ACKNOWLEDGED:
        within = format_duration(inc.policy.ack.confirm_within or timedelta())
        text = f"Acknowledgement by {_names(inc.acked_by)} not confirmed within {within}; escalation resumes"
        d.record("confirm_timeout", text)
        _release_ackers(d, "confirm_timeout")
        _escalate(d, "confirm_timeout")
    elif kind == TimerKind.ACK_EXPIRY and inc.state == IncidentState.ACKNOWLEDGED:
        after = format_duration(inc.policy.ack.reack_after or timedelta())
        text = f"Acknowledgement by {_names(inc.acked_by)} expired after {after}; paging again"
        d.record("ack_expired", text)
        _release_ackers(d, "ack_expired")
        _repage_current(d, "reack")
    elif kind == TimerKind.CRISIS_REPEAT and inc.state == IncidentState.TRIGGERED and inc.crisis:
        _page_crisis(d, "crisis_repeat", "crisis_repeat", "Crisis cell not acknowledged yet")


def _on_acked(d: Decision, event: Acked | Confirmed) -> None:
    inc, person, via = d.incident, event.person, _via(event)
    verb = "acknowledged" if isinstance(event, Acked) else "confirmed (counted as an acknowledgement)"
    if person in inc.acked_by:
        d.record("duplicate", f"{person} acknowledged again{via}: already counted", person)
        return
    if not _may_act(inc, event):
        _refuse(d, event, "acknowledge")
        return
    d.incident = replace(inc, acked_by=(*inc.acked_by, person))
    count = len(d.incident.acked_by)
    if inc.state != IncidentState.TRIGGERED:
        d.record("ack_noted", f"{person} {verb}{via}; the incident was already {inc.state}", person)
    elif count < inc.quorum:
        text = f"{person} {verb}{via} ({count} of {inc.quorum} needed); escalation continues"
        d.record("ack_partial", text, person)
    else:
        _acknowledge(d, f"{person} {verb}{via}", person)


def _on_confirmed(d: Decision, event: Confirmed) -> None:
    inc, person, via = d.incident, event.person, _via(event)
    if person in inc.confirmed_by:
        d.record("duplicate", f"{person} confirmed again{via}: already counted", person)
        return
    if not _may_act(inc, event):
        _refuse(d, event, "confirm")
        return
    acked_by = inc.acked_by if person in inc.acked_by else (*inc.acked_by, person)
    d.incident = replace(inc, acked_by=acked_by, confirmed_by=(*inc.confirmed_by, person))
    count = len(d.incident.confirmed_by)
    if inc.state == IncidentState.CONFIRMED:
        d.record("confirm_noted", f"{person} confirmed{via}; the incident was already confirmed", person)
    elif count >= inc.quorum:
        d.incident = replace(d.incident, state=IncidentState.CONFIRMED)
        d.rearm()
        text = f"{person} confirmed{via}; incident confirmed by {_names(d.incident.confirmed_by)}"
        d.record("confirmed", text, person)
        _announce(d, "confirmed", person, text)
    else:
        if inc.state == IncidentState.TRIGGERED and len(acked_by) >= inc.quorum:
            _acknowledge(d, f"{person} confirmed{via} (counted as an acknowledgement)", person)
        text = f"{person} confirmed{via} ({count} of {inc.quorum} confirmations needed)"
        d.record("confirm_partial", text, person)


def _on_escalate(d: Decision, event: EscalateRequested) -> None:
    if not _may_act(d.incident, event):
        _refuse(d, event, "escalate")
        return
    text = f"{event.person} asked to escalate{_via(event)}"
    d.record("escalate_requested", text, event.person)
    _release_ackers(d, "escalate_requested", but=event.person)
    _announce(d, "escalated", event.person, text)
    _escalate(d, "escalate_requested")


def _on_resolved(d: Decision, event: Resolved) -> None:
    if event.person is not None and not _may_act(d.incident, event):
        _refuse(d, event, "resolve")
        return
    by = f"by {event.person}" if event.person is not None else "by the alarm source"
    silenced = d.incident.state == IncidentState.SILENCED
    d.incident = replace(d.incident, state=IncidentState.RESOLVED)
    d.rearm()
    d.effects.append(CancelNotifications())
    if silenced:  # nobody was told it opened: nobody is told it closed
        d.record("resolved", f"Resolved {by}{_via(event)} while silenced: nobody was paged", event.person)
        return
    text = f"Resolved {by}{_via(event)}"
    d.record("resolved", text, event.person)
    _announce(d, "resolved", event.person, text)


def _on_delivery_failed(d: Decision, event: DeliveryFailed) -> None:
    """A failure of a stage that is over is only recorded. Otherwise the person is unreachable on this
    stage, and once the acks so far plus the people still reachable cannot make the quorum the step
    escalates at once (beyond the crisis cell there is nothing: that is only recorded)."""
    inc, person = d.incident, event.person
    late = over(inc, event.stage)
    if late is not None:
        text = f"Could not reach {person}: {event.reason} (a late failure: {late}; nothing else changes)"
        d.record("delivery_failed", text, person)
        return
    d.record("delivery_failed", f"Could not reach {person}: {event.reason}", person)
    d.incident = replace(inc, undeliverable=inc.undeliverable | {person})
    left = reach(d.incident)
    if left >= inc.quorum or (reach(inc) < inc.quorum and inc.crisis):
        return  # the quorum is still within reach (or, in the crisis cell, was already out of it)
    short = f"{len(inc.acked_by)} acknowledged, {left - len(inc.acked_by)} still reachable"
    if inc.crisis:
        d.record("unreachable", f"The crisis cell can no longer reach its quorum of {inc.quorum} ({short})")
        return
    if left == len(inc.acked_by) == 0:
        text = f"Nobody paged at step {inc.step + 1} can be reached; escalating now"
    else:
        text = f"Step {inc.step + 1} can no longer reach the quorum of {inc.quorum} ({short}); escalating now"
    d.record("unreachable", text)
    _announce(d, "escalated", None, text)
    _advance(d, "undeliverable")


# --- ack stages ---------------------------------------------------------------------------------------


def _acknowledge(d: Decision, what: str, person: str) -> None:
    """The ack quorum is met: stop escalating and arm the confirmation and expiry timers, if any."""
    inc = d.incident
    rule = inc.policy.ack
    timers: list[tuple[TimerKind, timedelta]] = []
    waits: list[str] = []
    if rule.mode == AckMode.DOUBLE and rule.confirm_within is not None:
        timers.append((TimerKind.CONFIRM_TIMEOUT, rule.confirm_within))
        waits.append(f"confirmation expected within {format_duration(rule.confirm_within)}")
    if rule.reack_after is not None:
        timers.append((TimerKind.ACK_EXPIRY, rule.reack_after))
        waits.append(f"the acknowledgement expires after {format_duration(rule.reack_after)}")
    d.incident = replace(inc, state=IncidentState.ACKNOWLEDGED)
    d.rearm(*timers)
    tail = "".join(f"; {wait}" for wait in waits)
    text = f"{what}; incident acknowledged by {_names(inc.acked_by)}{tail}"
    d.record("acknowledged", text, person)
    _announce(d, "acknowledged", person, text)


def _release_ackers(d: Decision, reason: str, but: str | None = None) -> None:
    """Abandon the ack stage: back to TRIGGERED, ackers cleared and told (except ``but``)."""
    inc = d.incident
    channels, step = _stage_channels(inc), None if inc.crisis else inc.step
    for person in inc.acked_by:
        if person != but:
            d.effects.append(Notify(person, channels, Purpose.STATUS, step, reason))
    d.incident = replace(inc, state=IncidentState.TRIGGERED, acked_by=(), confirmed_by=())


def _announce(d: Decision, event: str, person: str | None, text: str) -> None:
    """Tell the outside about a change: a STATUS notice to everyone already paged (except whoever caused
    it) when the policy asks for notices of ``event``, and the event to the policy's outbound providers."""
    inc = d.incident
    if event in inc.policy.notices:
        channels, step = _stage_channels(inc), None if inc.crisis else inc.step
        for name in sorted(inc.paged - {person} if person else inc.paged):
            d.effects.append(Notify(name, channels, Purpose.STATUS, step, event))
    if inc.policy.outbound:
        d.effects.append(Publish(event, person, text))


# --- escalation ---------------------------------------------------------------------------------------


def _escalate(d: Decision, reason: str) -> None:
    """Move on: the next step, or the crisis cell again when it is already paged."""
    if reason == "confirm_timeout":
        _announce(d, "escalated", None, "Acknowledgement not confirmed in time; escalation resumes")
    if d.incident.crisis:
        _page_crisis(d, reason, "crisis_repeat", "Pages queued again for the crisis cell")
    else:
        _advance(d, reason)


def _repage_current(d: Decision, reason: str) -> None:
    if d.incident.crisis:
        _page_crisis(d, reason, "crisis_repeat", "Pages queued again for the crisis cell")
    elif not _page_step(d, d.incident.step, reason):
        _advance(d, reason, skipped=1)


def _advance(d: Decision, reason: str, skipped: int = 0) -> None:
    """Page the next step that has someone to page; past the last one repeat, then crisis or exhausted.

    ``skipped`` counts steps in a row that paged nobody in this decision: once it covers every step, a
    further pass at the same instant would page nobody either, so the remaining repeats are skipped.
    """
    policy = d.incident.policy
    while True:
        inc = d.incident
        index = inc.step + 1
        if index == len(policy.steps):
            if inc.cycle >= policy.repeat:
                _end(d)
                return
            if skipped >= len(policy.steps):
                left = policy.repeat - inc.cycle
                text = f"Nobody could be paged on any step; skipping the remaining {left} pass(es)"
                d.record("repeat_skipped", text)
                d.incident = replace(inc, cycle=policy.repeat)
                _end(d)
                return
            d.incident = replace(inc, cycle=inc.cycle + 1)
            text = f"All steps done without acknowledgement; pass {inc.cycle + 2} of {policy.repeat + 1}"
            d.record("repeated", text + " starts from step 1")
            index = 0
        if _page_step(d, index, reason):
            return
        skipped += 1


def _page_step(d: Decision, index: int, reason: str) -> bool:
    """Page step ``index``; False (and the step recorded as skipped) when nobody could be paged."""
    callout = step_callout(d.incident, index, d.now)
    step = d.incident.policy.steps[index]
    d.effects.extend(callout.problems)
    d.incident = replace(d.incident, step=index)
    if not callout.people:
        acked = callout.already_acked
        why = f"{_names(acked)} already acknowledged" if acked else "no target"
        d.record("step_skipped", f"Step {index + 1} skipped: nobody to page ({why}); moving on")
        return False
    _page(d, callout.people, step.channels, index, reason, (TimerKind.ACK_TIMEOUT, step.ack_within))
    within = format_duration(step.ack_within)
    cycle = f", pass {d.incident.cycle + 1}" if d.incident.cycle else ""
    # The pages are queued with this decision; their own entries say when each one went out.
    pages = "Pages" if len(callout.people) > 1 else "Page"
    text = f"{pages} queued for {_names(callout.people)}: step {index + 1}{cycle} via {', '.join(step.channels)}"
    d.record("paged", f"{text}; acknowledgement expected within {within}")
    return True


def _end(d: Decision) -> None:
    """Every step and repeat is spent: page the crisis cell, or record that the escalation is exhausted."""
    inc = d.incident
    if inc.policy.crisis_cell is None:
        passes = f"{len(inc.policy.steps)} step(s) × {inc.policy.repeat + 1} pass(es)"
        d.record("exhausted", f"Escalation exhausted: {passes} without acknowledgement; no further pages")
        d.rearm()
        return
    d.incident = replace(inc, crisis=True, acked_by=(), confirmed_by=())
    _page_crisis(d, "crisis", "crisis", "Escalation steps exhausted; pages queued for the crisis cell")


def _page_crisis(d: Decision, reason: str, kind: str, headline: str) -> None:
    """Page every crisis cell member who has not acked in this stage; rearm CRISIS_REPEAT if set."""
    cell = d.incident.policy.crisis_cell
    assert cell is not None  # only reached with a crisis cell
    people = crisis_callout(d.incident).people
    repeat = () if cell.repeat_every is None else ((TimerKind.CRISIS_REPEAT, cell.repeat_every),)
    _page(d, people, cell.channels, None, reason, *repeat)
    bridge = f"; conference bridge {cell.bridge}" if cell.bridge else ""
    who = _names(people) if people else "nobody left to page"
    d.record(kind, f"{headline}: {who} via {', '.join(cell.channels)} (quorum {cell.quorum}){bridge}")


def _page(
    d: Decision, people: tuple[str, ...], via: tuple[str, ...], step: int | None, why: str, *timers: Timer
) -> None:
    """Start a stage: PAGE each of ``people`` and replace the pending timers with ``timers``. The pages
    carry the stage (identified by the version this decision ends at); the people become the current
    stage and count as paged for the incident."""
    stage = Stage(d.incident.cycle, step, d.rearm(*timers))
    d.effects.extend(Notify(person, via, Purpose.PAGE, step, why, stage) for person in people)
    inc = d.incident
    d.incident = replace(inc, paged=inc.paged | set(people), stage_paged=people, undeliverable=frozenset())


# --- helpers ------------------------------------------------------------------------------------------


def _may_act(incident: Incident, action: Action | Resolved) -> bool:
    """Paged for the incident, an acker of the current stage (e.g. an admin who acked), or an admin."""
    return action.admin or action.person in incident.paged or action.person in incident.acked_by


def _refuse(d: Decision, event: Action | Resolved, verb: str) -> None:
    who = event.person or "someone"
    text = f"{who}{_via(event)} may not {verb}: not paged for this incident and not an admin"
    d.record("refused", text, event.person)


def _stage_channels(incident: Incident) -> tuple[str, ...]:
    cell = incident.policy.crisis_cell
    if incident.crisis and cell is not None:
        return cell.channels
    return incident.policy.steps[max(incident.step, 0)].channels


def _names(people: tuple[str, ...]) -> str:
    return ", ".join(people)


def _via(event: Action | Resolved) -> str:
    return f" via {event.via}" if event.via else ""


def _actor(event: Event) -> str | None:
    return event.person if isinstance(event, Action | Resolved | DeliveryFailed) else None


def _describe(event: Event) -> str:
    match event:
        case Triggered():
            return "Trigger"
        case Silenced(silence=name):
            return f"Hold by {name}"
        case AlarmAttached(summary=summary):
            return f"Alarm {summary!r}"
        case TimerFired(kind=kind):
            return f"Timer {kind}"
        case Acked(person=person):
            return f"Acknowledgement by {person}{_via(event)}"
        case Confirmed(person=person):
            return f"Confirmation by {person}{_via(event)}"
        case EscalateRequested(person=person):
            return f"Escalation request by {person}{_via(event)}"
        case Resolved(person=None):
            return "Resolution by the alarm source"
        case Resolved(person=person):
            return f"Resolution by {person}{_via(event)}"
        case DeliveryFailed(person=person, reason=reason):
            return f"Delivery failure for {person} ({reason})"
