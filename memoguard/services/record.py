"""What crosses the storage port: alarms as received, stored incidents, timeline entries, timers,
notifications and overrides. These are records of the service layer, not domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from memoguard.domain.event import TimerKind
from memoguard.domain.incident import Incident
from memoguard.domain.policy import Policy
from memoguard.domain.roster import Roster
from memoguard.domain.stage import Stage


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
    # (what, URL) the tool gave with the alarm (Grafana's dashboard, PagerDuty's links): on the timeline
    # of the incident the alarm opens.
    links: tuple[tuple[str, str], ...] = ()


class Outcome(StrEnum):
    OPENED = "opened"  # a new incident was opened and its first step paged
    SILENCED = "silenced"  # a new incident was opened silenced by a maintenance window: nobody paged yet
    ATTACHED = "attached"  # joined the open incident with the same dedup key
    RESOLVED = "resolved"  # resolved the open incident with the same dedup key
    IGNORED = "ignored"  # stored, but changed nothing (resolved alarm with no open incident, or the route says no)
    UNROUTED = "unrouted"  # stored, but no route matches: nobody is paged


class StoredAlarm(NamedTuple):
    """An alarm as it is written: with what became of it and the incident it opened or joined."""

    alarm: Alarm
    incident: str | None
    outcome: Outcome


class OpenIncident(NamedTuple):
    """The open incident of a dedup key, as a decision about a new alarm needs it."""

    incident: Incident
    resolve_by_source: bool


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
class AlarmRecord:
    """An alarm as the console shows it under its incident."""

    received_at: datetime
    source: str
    status: str
    severity: str
    summary: str
    labels: dict[str, str]


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
    id: int = field(default=0, compare=False)  # the row, to postpone this very timer (0: not from a row)


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for the dispatcher (or for ``not_before``)
    SENDING = "sending"  # claimed by a dispatcher; back to pending if its lease lapses
    SUBMITTED = "submitted"  # in a provider's batch job; ``not_before`` says when to ask how it went
    SENT = "sent"  # handed to a provider
    FAILED = "failed"  # no channel could take it
    CANCELLED = "cancelled"  # the incident no longer needs it


@dataclass(frozen=True)
class NotificationDraft:
    """A message to one person, or an incident event for an outbound provider (``person`` empty,
    ``channels`` the provider's name, ``payload`` the event as JSON), written in the same transaction as
    the decision that caused it."""

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
    payload: str | None = None
    stage_version: int | None = None  # a page: the version of the stage it was drafted for (domain.stage)


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
    provider_index: int = 0  # which of the channel's providers is being tried
    tried_since: datetime | None = None  # first attempt on that provider: its failover deadline runs from here
    payload: str | None = None
    job: str | None = None
    reference: str | None = None
    bundle_id: int | None = None
    not_before: datetime | None = None
    receipt: str | None = None  # the last delivery receipt state (DELIVRD, UNDELIV…)
    receipt_at: datetime | None = None
    stage_version: int | None = None  # a page: the version of its stage; None for rows before revision 0006
    tries: int = 0  # calls made to providers for it, whichever provider (``attempts``: failures on this one)

    @property
    def channel(self) -> str:
        return self.channels[self.channel_index]

    @property
    def stage(self) -> Stage:
        """The stage a page was drafted for: it is sent, and its failure counts, only while it is current."""
        return Stage(self.cycle, self.step, self.stage_version)

    @property
    def outbound(self) -> bool:
        """An incident event for a helpdesk or webhook (its one channel is the provider's name)."""
        return self.purpose in OUTBOUND

    @property
    def direct(self) -> bool:
        """Its one channel is a provider's name: an incident event, or the answer to an SMS reply, which
        goes back through the provider the reply came in by."""
        return self.purpose in DIRECT


OUTBOUND = ("ticket", "webhook")
REPLY = "reply"  # the answer to an SMS a person sent (acknowledged, unknown code…)
DIRECT = (*OUTBOUND, REPLY)


@dataclass(frozen=True)
class ProviderState:
    name: str
    blocked_until: datetime | None = None
    failing_since: datetime | None = None
    last_error: str | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None


@dataclass(frozen=True)
class Bundle:
    id: int
    person: str
    channel: str
    code: int
    created_at: datetime


@dataclass(frozen=True)
class OutboxRows:
    """Notifications not sent yet, per channel, provider position and purpose (as ``QueueCount``), and
    when the oldest of them was written (for /metrics)."""

    channel: str
    provider_index: int
    purpose: str
    count: int
    oldest: datetime


@dataclass(frozen=True)
class QueueCount:
    """How many notifications are in one status, per channel, provider position and purpose (for an
    outbound event, ``channel`` is the provider's name)."""

    channel: str
    provider_index: int
    purpose: str
    status: NotificationStatus
    count: int


@dataclass(frozen=True)
class HeldCount:
    """Pending notifications that may not go before a later time, per channel, provider position,
    purpose and reason (``error``: "held: <why>" for a rate limit or a provider's "wait", else the failure
    a retry waits out), with the earliest and latest time they may go."""

    channel: str
    provider_index: int
    purpose: str
    error: str | None
    attempts: bool  # some of them failed before: they wait out a retry backoff
    count: int
    first: datetime
    last: datetime


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


@dataclass(frozen=True)
class EngineBeat:
    """The last sign of life of one running engine (``memoguard serve``): which process, since when it
    runs, when it last beat, and when it stopped (a clean stop), if it did."""

    instance: str
    host: str
    pid: int
    started_at: datetime
    last_beat: datetime
    stopped_at: datetime | None = None


@dataclass(frozen=True)
class StoredToken:
    """A personal API token as stored: never the token itself, only its digest (services/access.py)."""

    id: int
    person: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class SigninCode:
    """A one-time sign-in code as stored (services/signin.py): never the code, only its keyed hash."""

    id: int
    person: str | None
    code: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    attempts: int


@dataclass(frozen=True)
class WebSession:
    """A web session as stored (services/session.py): never the cookie, only its digest."""

    id: int
    person: str
    how: str
    csrf: str
    address: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    """Who (``person``, None when unknown) did ``action`` (ack, token-create, auth-failed…), how (the
    token's name, ``sms``, ``cli``…), from where (``address``), when, on what (``target``)."""

    at: datetime
    person: str | None
    action: str
    how: str
    address: str | None = None
    target: str | None = None
    detail: str = ""
    id: int | None = None


class PulseState(StrEnum):
    """A heartbeat's state (services/deadman.py)."""

    WAITING = "waiting"  # declared, never pinged yet: its first deadline runs from when it was declared
    UP = "up"  # pinged before its deadline
    MISSED = "missed"  # its deadline passed without a ping: an incident was opened


@dataclass(frozen=True)
class Pulse:
    """One heartbeat as stored: ``deadline`` is its durable check (while missed: when to look whether its
    incident is still open, and open another if not)."""

    name: str
    state: PulseState
    since: datetime
    last_ping: datetime | None = None
    deadline: datetime | None = None
    incident: str | None = None


@dataclass(frozen=True)
class TestRun:
    """The self-test's durable timer (services/selftest.py), one row: ``due`` is when to send the next
    test page (``waiting``) or to look whether the one sent was acknowledged (``sent``)."""

    state: str  # waiting, sent
    due: datetime
    incident: str | None = None  # the test page's incident while sent, then the last one's
    last_outcome: str | None = None  # passed, failed: what the last test came to
