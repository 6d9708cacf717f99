"""Firing due timers: each one is claimed, decided and consumed in one transaction.

Decisions use the time they run at, not the timer's due time: after an outage every overdue step fires
at once (in due order) and the person paged then gets the step's full ack window, instead of the
escalation racing through every step in one go.
"""

from __future__ import annotations

import logging

from memoguard.domain.event import TimerFired
from memoguard.services.clock import Clock
from memoguard.services.escalator import Escalator
from memoguard.services.store import Store

log = logging.getLogger(__name__)

BATCH = 100


class Timers:
    def __init__(self, store: Store, clock: Clock, escalator: Escalator) -> None:
        self._store = store
        self._clock = clock
        self._escalator = escalator

    def fire_due(self, limit: int = BATCH) -> int:
        """Fire up to ``limit`` due timers; returns how many were claimed."""
        now = self._clock.now()
        with self._store.write() as unit:
            due = unit.claim_due_timers(now, limit)
            for timer in due:
                incident = unit.incident(timer.incident)
                if incident is None:
                    continue
                self._escalator.apply(unit, incident, TimerFired(timer.kind, timer.version), now)
        if due:
            late = max((now - t.due_at).total_seconds() for t in due)
            log.debug("fired %d timer(s), up to %.3fs late", len(due), late)
        return len(due)

    def fire_all_due(self) -> int:
        """Fire every timer due now, batch after batch (start-up, tests)."""
        total = 0
        while True:
            fired = self.fire_due()
            total += fired
            if fired < BATCH:
                return total
