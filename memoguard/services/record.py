"""What crosses the storage port: alarms as received, stored incidents, timeline entries, timers,
notifications and overrides. These are records of the service layer, not domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from memoguard.domain.event import TimerKind
from memoguard.domain.incident import Incident
from memoguard.domain.policy import Policy
from memoguard.domain.roster import Roster


class AlarmStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alarm:
    """One event from a source. ``dedup_key`` is scoped by ``source``."""

    source: str
    dedup_key: str
    status: AlarmStatus
    severity: str
    summary: str
    details: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


class Outcome(StrEnum):
    OPENED = "opened"  # a new incident was opened and its first step paged
    ATTACHED = "attached"  # joined the open incident with the same dedup key
    RESOLVED = "resolved"  # resolved the open incident with the same dedup key
    IGNORED = "ignored"  # stored, but changed nothing (resolved alarm with no open incident, or the route says no)
    UNROUTED = "unrouted"  # stored, but no route matches: nobody is paged


@dataclass(frozen=True)
class Receipt:
    """What became of one alarm; ``incident`` is the incident it opened or joined."""

    alarm: int
    outcome: Outcome
    incident: str | None


@dataclass(frozen=True)
class NewIncident:
    """An incident about to be opened: the row is created first, so the domain object gets its id."""

    summary: str
    severity: str
    source: str
    dedup_key: str
    resolve_by_source: bool
    policy: Policy
    rosters: tuple[Roster, ...]
    opened_at: datetime


@dataclass(frozen=True)
class IncidentRow:
    """An incident as the read side shows it."""

    incident: Incident
    source: str
    dedup_key: str
    resolve_by_source: bool
    updated_at: datetime
    resolved_at: datetime | None
    alarms: int


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    incident: str
    at: datetime
    kind: str
    text: str
    person: str | None = None


@dataclass(frozen=True)
class DueTimer:
    incident: str
    kind: TimerKind
    due_at: datetime
    version: int


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for the dispatcher (or for ``not_before``)
    SENDING = "sending"  # claimed by a dispatcher; back to pending if its lease lapses
    SENT = "sent"  # handed to a provider
    FAILED = "failed"  # no channel could take it
    CANCELLED = "cancelled"  # the incident no longer needs it


@dataclass(frozen=True)
class NotificationDraft:
    """A message to one person, written in the same transaction as the decision that caused it."""

    incident: str
    person: str
    channels: tuple[str, ...]
    purpose: str
    step: int | None
    cycle: int
    reason: str
    subject: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Notification:
    id: int
    incident: str
    person: str
    channels: tuple[str, ...]
    channel_index: int
    purpose: str
    step: int | None
    cycle: int
    reason: str
    subject: str
    text: str
    created_at: datetime
    status: NotificationStatus
    attempts: int
    sent_at: datetime | None = None
    provider: str | None = None
    error: str | None = None

    @property
    def channel(self) -> str:
        return self.channels[self.channel_index]


@dataclass(frozen=True)
class StoredOverride:
    id: int
    roster: str
    who: str
    start: datetime
    end: datetime
    level: str
    note: str
    created_at: datetime
