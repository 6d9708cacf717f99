"""Ingesting alarms: each one is stored and opens, joins or resolves an incident.

The caller answers the source only after ``receive`` returns, so a 2xx always means committed. A batch
(an Alertmanager payload) is all or nothing.

Group commit: calls that arrive while a transaction is being written wait, and the next of them to get
the turn writes all that queued, one savepoint each, in one transaction. A commit (an fsync on
SQLite) is the dearest part of a small write, so concurrent sources share it instead of queueing for
one each. A request that fails rolls back its own savepoint only; if the commit fails, every request of
the group gets the error, and none of them has been answered yet.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from memoguard.config.model import Config
from memoguard.domain.event import AlarmAttached, Resolved, Triggered
from memoguard.domain.incident import Incident
from memoguard.domain.route import first_match
from memoguard.services.clock import Clock
from memoguard.services.escalator import Escalator
from memoguard.services.record import Alarm, AlarmStatus, NewIncident, Outcome, Receipt
from memoguard.services.store import OpenIncidentExists, Store, Unit

log = logging.getLogger(__name__)

# Alarms written in one transaction at most (a request is never split). Kept small: on SQLite every other
# writer (the dispatcher recording a page) waits for the group's commit.
GROUP_ALARMS = 200


class GroupCommitFailed(RuntimeError):
    """The transaction holding this request (and others queued with it) could not be committed."""


@dataclass(eq=False)
class _Request:
    alarms: Sequence[Alarm]
    receipts: list[Receipt] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class Ingest:
    def __init__(self, store: Store, clock: Clock, config: Config, escalator: Escalator) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._escalator = escalator
        self._queued: deque[_Request] = deque()
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def receive(self, alarms: Sequence[Alarm]) -> list[Receipt]:
        """Store the alarms and act on them; returns once they are committed (thread-safe)."""
        request = _Request(alarms)
        with self._queue_lock:
            self._queued.append(request)
        while not request.done:
            with self._turn:
                if not request.done:
                    self._write(self._take())
        if request.error is not None:
            raise request.error
        return request.receipts

    @property
    def waiting(self) -> int:
        """Requests queued for the next group commit."""
        with self._queue_lock:
            return len(self._queued)

    def _take(self) -> list[_Request]:
        group: list[_Request] = []
        size = 0
        with self._queue_lock:
            while self._queued and (not group or size + len(self._queued[0].alarms) <= GROUP_ALARMS):
                request = self._queued.popleft()
                group.append(request)
                size += len(request.alarms)
        return group

    def _write(self, group: list[_Request]) -> None:
        try:
            now = self._clock.now()
            with self._store.write() as unit:
                if len(group) == 1:  # alone, a failure may roll back the whole transaction
                    group[0].receipts = [self._one(unit, alarm, now) for alarm in group[0].alarms]
                    return
                for request in group:
                    try:
                        with unit.savepoint():
                            request.receipts = [self._one(unit, alarm, now) for alarm in request.alarms]
                    except Exception as error:
                        request.receipts, request.error = [], error
        except BaseException as error:
            if len(group) == 1:
                group[0].receipts, group[0].error = [], error
            else:
                log.exception("a group of %d alarm requests could not be committed", len(group))
                for request in group:
                    request.receipts = []
                    request.error = GroupCommitFailed(f"the alarms could not be stored: {error}")
                    request.error.__cause__ = error
            if not isinstance(error, Exception):
                raise
        finally:
            for request in group:
                request.done = True

    def _one(self, unit: Unit, alarm: Alarm, now: datetime) -> Receipt:
        open_id = unit.open_incident_for(alarm.source, alarm.dedup_key)
        if alarm.status == AlarmStatus.RESOLVED:
            return self._resolved(unit, alarm, open_id, now)
        if open_id is not None:
            incident = unit.incident(open_id)
            assert incident is not None
            self._escalator.apply(unit, incident, AlarmAttached(alarm.summary), now)
            return Receipt(unit.add_alarm(alarm, now, open_id, Outcome.ATTACHED), Outcome.ATTACHED, open_id)
        route = first_match(self._config.routes, alarm.source, alarm.severity, alarm.labels)
        if route is None:
            log.warning("alarm %s/%s matches no route: stored, nobody paged", alarm.source, alarm.dedup_key)
            return Receipt(unit.add_alarm(alarm, now, None, Outcome.UNROUTED), Outcome.UNROUTED, None)
        policy = self._config.policy(route.policy)
        rosters = tuple(self._config.roster(name) for name in sorted(policy.roster_names))
        draft = NewIncident(
            summary=alarm.summary,
            severity=alarm.severity,
            source=alarm.source,
            dedup_key=alarm.dedup_key,
            resolve_by_source=route.resolve,
            policy=policy,
            rosters=rosters,
            opened_at=now,
        )
        try:
            incident_id = unit.create_incident(draft)
        except OpenIncidentExists:
            # Another instance opened it a moment ago: join it like any duplicate.
            return self._one(unit, alarm, now)
        incident = Incident(incident_id, alarm.summary, policy, rosters, now, severity=alarm.severity)
        unit.add_entry(incident_id, now, "alarm", f"Alarm from {alarm.source}: {alarm.summary}", None)
        self._escalator.apply(unit, incident, Triggered(), now)
        return Receipt(unit.add_alarm(alarm, now, incident_id, Outcome.OPENED), Outcome.OPENED, incident_id)

    def _resolved(self, unit: Unit, alarm: Alarm, open_id: str | None, now: datetime) -> Receipt:
        if open_id is None:
            return Receipt(unit.add_alarm(alarm, now, None, Outcome.IGNORED), Outcome.IGNORED, None)
        row = unit.incident_row(open_id)  # already locked by open_incident_for where rows can be locked
        assert row is not None
        incident = row.incident
        if not row.resolve_by_source:
            text = f"{alarm.source} reports the alarm resolved; its route leaves resolving to a person"
            unit.add_entry(open_id, now, "source_resolved", text, None)
            return Receipt(unit.add_alarm(alarm, now, open_id, Outcome.IGNORED), Outcome.IGNORED, open_id)
        unit.add_entry(open_id, now, "source_resolved", f"{alarm.source} reports the alarm resolved", None)
        self._escalator.apply(unit, incident, Resolved(via=alarm.source), now)
        return Receipt(unit.add_alarm(alarm, now, open_id, Outcome.RESOLVED), Outcome.RESOLVED, open_id)
