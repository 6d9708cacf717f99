"""Ingesting alarms: each one is stored and opens, joins or resolves an incident, in one transaction.

The caller answers the source only after ``receive`` returns, so a 2xx always means committed. A batch
(an Alertmanager payload) is one transaction: all of it or none of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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


class Ingest:
    def __init__(self, store: Store, clock: Clock, config: Config, escalator: Escalator) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._escalator = escalator

    def receive(self, alarms: Sequence[Alarm]) -> list[Receipt]:
        now = self._clock.now()
        with self._store.write() as unit:
            return [self._one(unit, alarm, now) for alarm in alarms]

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
