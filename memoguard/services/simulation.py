"""Simulating an escalation: the timeline an alarm would produce, without sending anything.

It runs the real ``decide`` against the real rosters with a simulated clock that jumps from one timer to
the next, so what it prints is what the engine would do, not a second implementation of the rules.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from memoguard.domain.duration import format_duration
from memoguard.domain.effect import CancelTimers, Notify, Purpose, Record, ScheduleTimer
from memoguard.domain.escalation import decide
from memoguard.domain.event import Acked, Confirmed, Event, TimerFired, Triggered
from memoguard.domain.incident import Incident
from memoguard.domain.policy import Policy
from memoguard.domain.roster import Roster

DEFAULT_HORIZON = timedelta(days=2)


@dataclass(frozen=True)
class Entry:
    """One line of a simulated timeline: a page (``notify`` set) or a timeline record."""

    at: datetime
    notify: Notify | None = None
    record: Record | None = None


@dataclass(frozen=True)
class Simulation:
    entries: tuple[Entry, ...]
    stopped: str  # why the simulation ended, for people


@dataclass(frozen=True)
class PlannedAck:
    """``person`` acknowledges ``after`` the alarm and, when ``confirm_after`` is set, confirms that long
    after the alarm too (double acknowledgement)."""

    after: timedelta
    person: str
    confirm_after: timedelta | None = None


def simulate(
    policy: Policy,
    rosters: Mapping[str, Roster],
    start: datetime,
    ack: PlannedAck | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
) -> Simulation:
    """Run an incident on ``policy`` opened at ``start``; stop when nothing is pending, past ``horizon``,
    or once the crisis cell has been paged (after that it only repeats)."""
    incident = Incident(
        id="simulated",
        summary="simulated alarm",
        policy=policy,
        rosters=tuple(rosters[name] for name in sorted(policy.roster_names)),
        opened_at=start,
    )
    # Pending events as (due, order, event): timers come from the decisions, the ack from the caller.
    pending: list[tuple[datetime, int, Event]] = [(start, 0, Triggered())]
    if ack is not None:
        pending.append((start + ack.after, 1, Acked(ack.person, via="simulation")))
        if ack.confirm_after is not None:
            pending.append((start + ack.confirm_after, 2, Confirmed(ack.person, via="simulation")))
    heapq.heapify(pending)
    order = 3
    entries: list[Entry] = []
    while pending:
        now, _, event = heapq.heappop(pending)
        if now > start + horizon:
            return Simulation(tuple(entries), f"stopped at the {format_duration(horizon)} horizon")
        incident, effects = decide(incident, event, now)
        for effect in effects:
            if isinstance(effect, CancelTimers):
                pending = [item for item in pending if not isinstance(item[2], TimerFired)]
                heapq.heapify(pending)
            elif isinstance(effect, ScheduleTimer):
                heapq.heappush(pending, (effect.due_at, order, TimerFired(effect.kind, effect.version)))
                order += 1
            elif isinstance(effect, Notify):
                entries.append(Entry(now, notify=effect))
            elif isinstance(effect, Record):
                entries.append(Entry(now, record=effect))
        if incident.crisis and any(
            isinstance(e, Notify) and e.step is None and e.purpose == Purpose.PAGE for e in effects
        ):
            return Simulation(tuple(entries), _crisis_end(policy))
    return Simulation(tuple(entries), f"nothing more would happen; the incident is {incident.state}")


def _crisis_end(policy: Policy) -> str:
    cell = policy.crisis_cell
    if cell is not None and cell.repeat_every is not None:
        return (
            f"the crisis cell is paged again every {format_duration(cell.repeat_every)} until {cell.quorum} acknowledge"
        )
    return "the crisis cell has been paged; nothing more is scheduled"
