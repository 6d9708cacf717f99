"""Firing due timers: each one is claimed, decided and consumed in one transaction.

Decisions use the time they run at, not the timer's due time: after an outage every overdue step fires
at once (in due order) and the person paged then gets the step's full ack window, instead of the
escalation racing through every step in one go. "The time they run at" is read once the transaction
holds its incidents (SQLite's write lock, PostgreSQL's row locks): read before, a long wait for a lock
would come off the next step's ack window.

A timer whose decision fails is postponed by its own row (and only if its version is still the one
claimed): re-claiming "the first due timer" for that, as this did, could take another instance's timer
whose claim had just rolled back, and leave the failing one due, to fail again at once.

A database that cannot be reached or drops the session (``StoreUnavailable``) is not a failing timer: the
transaction rolled back, so every timer it took is due again as it was, and the error goes to the loop,
which tries again shortly. Postponing it, as a decision's bug is, made an escalation a minute late when
the session was dropped between the claim and the commit and the postponement's own transaction then
reached the database again (found by tests/e2e/test_ha.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from memoguard.domain.event import TimerFired
from memoguard.services.clock import Clock
from memoguard.services.escalator import Escalator
from memoguard.services.logfields import ids
from memoguard.services.metrics import NO_METRICS, Metrics
from memoguard.services.record import DueTimer
from memoguard.services.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

BATCH = 100
POSTPONE = timedelta(minutes=1)


class Timers:
    def __init__(self, store: Store, clock: Clock, escalator: Escalator, metrics: Metrics = NO_METRICS) -> None:
        self._store = store
        self._metrics = metrics
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
        except StoreUnavailable:
            raise  # nothing was fired: the loop tries again once the database answers
        except Exception:
            log.exception("firing a batch of timers failed; retrying them one by one")
        fired = 0
        for _ in range(limit):
            claimed: list[DueTimer] = []
            try:
                fired_now = self._fire(1, claimed)
            except StoreUnavailable:
                raise
            except Exception:
                log.exception(
                    "a timer could not be fired; postponing it by %s",
                    POSTPONE,
                    extra=ids(claimed[0].incident) if claimed else None,
                )
                for timer in claimed:
                    self._postpone(timer)
                fired += 1
                continue
            if fired_now == 0:
                break
            fired += fired_now
        return fired

    def _fire(self, limit: int, claimed: list[DueTimer] | None = None) -> int:
        """``claimed`` receives the timers taken, for the caller to postpone should the decision raise."""
        with self._store.write() as unit:
            due = unit.claim_due_timers(self._clock.now(), limit)
            if claimed is not None:
                claimed.extend(due)
            # One read for the batch, of its incidents (locked on PostgreSQL) and of their rosters' overrides.
            incidents = unit.incidents_by_id([timer.incident for timer in due])
            now = self._clock.now()  # with the incidents held: a wait for their locks is not an ack window's
            unit.overrides_in_force([r.name for i in incidents.values() for r in i.rosters], now)
            for timer in due:
                incident = incidents.get(timer.incident)
                if incident is None:
                    continue
                # The next timer of the same incident in this batch is decided against this decision.
                incidents[timer.incident], _ = self._escalator.apply(
                    unit, incident, TimerFired(timer.kind, timer.version), now
                )
        for timer in due:
            self._metrics.timer_late(max((now - timer.due_at).total_seconds(), 0.0))
        if due:
            late = max((now - t.due_at).total_seconds() for t in due)
            log.debug("fired %d timer(s), up to %.3fs late", len(due), late)
        return len(due)

    def _postpone(self, timer: DueTimer) -> None:
        with self._store.write() as unit:
            now = self._clock.now()
            if not unit.postpone_timer(timer, now + POSTPONE):
                return  # fired or superseded by another instance meanwhile
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
