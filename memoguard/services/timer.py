"""Firing due timers: each one is claimed, decided and consumed in one transaction.

Decisions use the time they run at, not the timer's due time: after an outage every overdue step fires
at once (in due order) and the person paged then gets the step's full ack window, instead of the
escalation racing through every step in one go.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from memoguard.domain.event import TimerFired
from memoguard.services.clock import Clock
from memoguard.services.escalator import Escalator
from memoguard.services.store import Store

log = logging.getLogger(__name__)

BATCH = 100
POSTPONE = timedelta(minutes=1)


class Timers:
    def __init__(self, store: Store, clock: Clock, escalator: Escalator) -> None:
        self._store = store
        self._clock = clock
        self._escalator = escalator

    def fire_due(self, limit: int = BATCH) -> int:
        """Fire up to ``limit`` due timers; returns how many were claimed.

        A timer whose decision raises must not hold back every other incident (it would be claimed first
        again and again): the batch is retried one timer at a time, and the failing one is put back a
        minute later, with the error on the log and on its incident's timeline.
        """
        try:
            return self._fire(limit)
        except Exception:
            log.exception("firing a batch of timers failed; retrying them one by one")
        fired = 0
        for _ in range(limit):
            try:
                claimed = self._fire(1)
            except Exception:
                log.exception("a timer could not be fired; postponing it by %s", POSTPONE)
                self._postpone_first()
                fired += 1
                continue
            if claimed == 0:
                break
            fired += claimed
        return fired

    def _fire(self, limit: int) -> int:
        now = self._clock.now()
        with self._store.write() as unit:
            due = unit.claim_due_timers(now, limit)
            # One read for the batch, of its incidents and of their rosters' overrides.
            incidents = unit.incidents_by_id([timer.incident for timer in due])
            unit.overrides_in_force([r.name for i in incidents.values() for r in i.rosters], now)
            for timer in due:
                incident = incidents.get(timer.incident)
                if incident is None:
                    continue
                # The next timer of the same incident in this batch is decided against this decision.
                incidents[timer.incident], _ = self._escalator.apply(
                    unit, incident, TimerFired(timer.kind, timer.version), now
                )
        if due:
            late = max((now - t.due_at).total_seconds() for t in due)
            log.debug("fired %d timer(s), up to %.3fs late", len(due), late)
        return len(due)

    def _postpone_first(self) -> None:
        now = self._clock.now()
        with self._store.write() as unit:
            for timer in unit.claim_due_timers(now, 1):
                unit.add_timer(timer.incident, timer.kind, now + POSTPONE, timer.version)
                text = f"The {timer.kind.value} timer could not be processed (see the service log); retrying at +1m"
                unit.add_entry(timer.incident, now, "timer_error", text, None)

    def fire_all_due(self) -> int:
        """Fire every timer due now, batch after batch (start-up, tests)."""
        total = 0
        while True:
            fired = self.fire_due()
            total += fired
            if fired < BATCH:
                return total
