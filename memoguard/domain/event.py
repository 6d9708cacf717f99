"""Events fed to ``decide``: what happened to an incident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from memoguard.domain.stage import Stage


class TimerKind(StrEnum):
    ACK_TIMEOUT = "ack_timeout"  # nobody acknowledged the current step in time
    CONFIRM_TIMEOUT = "confirm_timeout"  # double mode: the ack was not confirmed in time
    ACK_EXPIRY = "ack_expiry"  # reack_after: an unconfirmed, unresolved ack lapses
    CRISIS_REPEAT = "crisis_repeat"  # page the crisis cell again
    SILENCE_END = "silence_end"  # the maintenance window holding a silenced incident ends: escalate now


@dataclass(frozen=True)
class Triggered:
    """The incident was just opened: page the first step."""


@dataclass(frozen=True)
class Silenced:
    """The incident was just opened inside a maintenance window: hold it (page nobody) until ``until``,
    when it is triggered if still open. ``silence`` says which window held it, for the timeline."""

    silence: str
    until: datetime


@dataclass(frozen=True)
class AlarmAttached:
    """Another alarm with the same dedup key arrived while the incident is open."""

    summary: str


@dataclass(frozen=True)
class TimerFired:
    kind: TimerKind
    version: int


@dataclass(frozen=True)
class Action:
    """Something a person did. ``admin`` lets someone who was not paged act (CLI/API with an identity);
    ``via`` says where it came from (sms, voice, email, cli, api) for the timeline."""

    person: str
    admin: bool = False
    via: str = ""


@dataclass(frozen=True)
class Acked(Action):
    pass


@dataclass(frozen=True)
class Confirmed(Action):
    pass


@dataclass(frozen=True)
class EscalateRequested(Action):
    pass


@dataclass(frozen=True)
class Resolved:
    """Resolved by a person (``person`` set, same rules as an action) or by the alarm source."""

    person: str | None = None
    admin: bool = False
    via: str = ""


@dataclass(frozen=True)
class DeliveryFailed:
    """A page to ``person`` finally could not be delivered on any of its channels. ``stage`` is the
    stage the page was drafted for: a failure of a stage that is over is only recorded."""

    person: str
    reason: str
    stage: Stage


Event = (
    Triggered
    | Silenced
    | AlarmAttached
    | TimerFired
    | Acked
    | Confirmed
    | EscalateRequested
    | Resolved
    | DeliveryFailed
)
