"""Effects returned by ``decide``: what the services must do, in order, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from memoguard.domain.event import TimerKind
from memoguard.domain.stage import Stage


class Purpose(StrEnum):
    PAGE = "page"  # wake someone up: the incident needs an acknowledgement
    STATUS = "status"  # tell someone already involved what changed


@dataclass(frozen=True)
class Notify:
    """Send ``person`` a message on ``channels`` (in order of preference). ``step`` is the step index,
    None for the crisis cell; ``reason`` is a short machine-readable cause (``escalation``, ``reack``…).
    A page carries its ``stage`` (see ``domain.stage``): it is dropped unsent once that stage is over."""

    person: str
    channels: tuple[str, ...]
    purpose: Purpose
    step: int | None
    reason: str
    stage: Stage | None = None


@dataclass(frozen=True)
class ScheduleTimer:
    kind: TimerKind
    due_at: datetime
    version: int


@dataclass(frozen=True)
class CancelTimers:
    """Every pending timer of the incident is obsolete."""


@dataclass(frozen=True)
class CancelNotifications:
    """Every notification of the incident not yet handed to a provider is obsolete."""


@dataclass(frozen=True)
class Record:
    """A timeline entry. ``kind`` is a stable identifier; ``text`` is for people (English)."""

    kind: str
    text: str
    person: str | None = None


@dataclass(frozen=True)
class Publish:
    """Tell the policy's outbound providers (helpdesk, webhooks) what happened: ``event`` is one of
    triggered, acknowledged, confirmed, escalated, resolved; ``person`` who caused it, if anyone."""

    event: str
    person: str | None
    text: str


Effect = Notify | ScheduleTimer | CancelTimers | CancelNotifications | Record | Publish
