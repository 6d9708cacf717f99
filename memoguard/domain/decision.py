"""One decision being built: the evolving incident, its effects and the timer plan.

``decide`` (``domain.escalation``) hands a ``Decision`` to the handler of the event, which records,
pages and rearms on it; ``finish`` then puts the effects in the order the services apply them: when the
timers are replaced, ``CancelTimers()`` first and the new ``ScheduleTimer``s last, all carrying the
version the decision ends at (the incident's version plus one), and that version is what fences stale
timers and identifies the stage a page belongs to (``domain.stage``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from memoguard.domain.effect import CancelTimers, Effect, Notify, Purpose, Record, ScheduleTimer
from memoguard.domain.event import TimerKind
from memoguard.domain.incident import Incident

Timer = tuple[TimerKind, timedelta]  # a timer to arm: its kind and its delay from now
NOTICES = ("acknowledged", "confirmed", "escalated", "resolved")  # events a policy may send notices about


@dataclass
class Decision:
    """What one call to ``decide`` builds up: the evolving incident, its effects and the timer plan
    (None: leave the pending timers alone; a list, even empty: replace them)."""

    incident: Incident
    now: datetime
    effects: list[Effect] = field(default_factory=list)
    timers: list[ScheduleTimer] | None = None

    def record(self, kind: str, text: str, person: str | None = None) -> None:
        self.effects.append(Record(kind, text, person))

    def rearm(self, *timers: Timer) -> int:
        """Replace the pending timers with ``timers`` (kind, delay from now); none cancels them all.
        Returns the version the decision ends at."""
        version = self.incident.version + 1
        self.timers = [ScheduleTimer(kind, max(self.now, self.now + d), version) for kind, d in timers]
        return version

    def finish(self) -> tuple[Incident, list[Effect]]:
        self._drop_redundant_notices()
        if self.timers is None:
            return self.incident, self.effects
        incident = replace(self.incident, version=self.incident.version + 1)
        return incident, [CancelTimers(), *self.effects, *self.timers]

    def _drop_redundant_notices(self) -> None:
        """A policy notice (``escalation._announce``) is dropped for someone paged or told otherwise in the same
        decision: one message says enough."""
        paged = {e.person for e in self.effects if isinstance(e, Notify) and e.purpose == Purpose.PAGE}
        told = {e.person for e in self.effects if isinstance(e, Notify) and e.reason not in NOTICES}
        kept: list[Effect] = []
        for effect in self.effects:
            if isinstance(effect, Notify) and effect.reason in NOTICES:
                if effect.person in paged or effect.person in told:
                    continue
                told.add(effect.person)
            kept.append(effect)
        self.effects = kept
