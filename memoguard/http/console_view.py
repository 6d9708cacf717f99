"""What the web console's pages show, read in one unit of the store: the incidents with who was paged by
which channel and when the next escalation step is due, and one incident with its timeline and alarms.

Plain values for the templates (http/console.py renders them); times in the configuration's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from memoguard.domain.incident import IncidentState
from memoguard.services.application import Application
from memoguard.services.record import AlarmRecord, DueTimer, IncidentRow, Notification, TimelineEntry

OPEN = (IncidentState.SILENCED, IncidentState.TRIGGERED, IncidentState.ACKNOWLEDGED, IncidentState.CONFIRMED)
LIMIT = 200  # incidents read for one list (newest first), before the filters
ALARMS = 50  # alarms shown under one incident (newest)


@dataclass(frozen=True)
class Filters:
    state: str = "open"  # "open", "all" or one IncidentState value
    severity: str = ""
    source: str = ""
    policy: str = ""

    def states(self) -> tuple[IncidentState, ...]:
        if self.state == "all":
            return ()
        if self.state in {s.value for s in IncidentState}:
            return (IncidentState(self.state),)
        return OPEN


@dataclass(frozen=True)
class Paged:
    person: str
    channel: str
    status: str


@dataclass(frozen=True)
class Row:
    id: str
    state: str
    summary: str
    severity: str
    source: str
    policy: str
    opened: datetime
    step: int | None
    steps: int
    paged: list[Paged]
    next_due: datetime | None
    is_open: bool


@dataclass(frozen=True)
class Detail:
    row: Row
    timeline: list[TimelineEntry]
    alarms: list[AlarmRecord]


def _row(found: IncidentRow, notifications: list[Notification], timers: list[DueTimer], zone: ZoneInfo) -> Row:
    incident = found.incident
    paged = [
        Paged(n.person, n.channel, n.status.value)
        for n in notifications
        if n.purpose == "page" and n.person is not None
    ]
    # Timers of the escalation (a step's timeout, an ack lapsing, a window's end) are "the next step".
    due = min((t.due_at for t in timers), default=None)
    return Row(
        id=incident.id,
        state=incident.state.value,
        summary=incident.summary,
        severity=incident.severity,
        source=found.source,
        policy=incident.policy.name,
        opened=incident.opened_at.astimezone(zone),
        step=None if incident.step < 0 else incident.step + 1,
        steps=len(incident.policy.steps),
        paged=paged,
        next_due=due if incident.is_open else None,
        is_open=incident.is_open,
    )


def incidents(app: Application, filters: Filters) -> list[Row]:
    zone = app.config.timezone
    out: list[Row] = []
    with app.store.read() as unit:
        for found in unit.incidents(filters.states(), LIMIT):
            incident = found.incident
            if filters.severity and incident.severity != filters.severity:
                continue
            if filters.source and found.source != filters.source:
                continue
            if filters.policy and incident.policy.name != filters.policy:
                continue
            out.append(_row(found, unit.notifications(incident.id), unit.timers(incident.id), zone))
    return out


def incident(app: Application, incident_id: str) -> Detail | None:
    zone = app.config.timezone
    with app.store.read() as unit:
        found = unit.incident_row(incident_id)
        if found is None:
            return None
        row = _row(found, unit.notifications(incident_id), unit.timers(incident_id), zone)
        timeline = [
            TimelineEntry(e.id, e.incident, e.at.astimezone(zone), e.kind, e.text, e.person)
            for e in unit.timeline(incident_id)
        ]
        alarms = [
            AlarmRecord(a.received_at.astimezone(zone), a.source, a.status, a.severity, a.summary, a.labels)
            for a in unit.incident_alarms(incident_id, ALARMS)
        ]
    return Detail(row, timeline, alarms)
