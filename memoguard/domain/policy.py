"""Escalation policies: ordered steps, a repeat count, the acknowledgement rule and a crisis cell."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from memoguard.domain.errors import InvalidValueError
from memoguard.domain.roster import PRIMARY


class TargetKind(StrEnum):
    ROSTER = "roster"
    PERSON = "person"


@dataclass(frozen=True)
class Target:
    """Who a step pages: ``roster:NAME``, ``roster:NAME/LEVEL`` or ``person:NAME``."""

    kind: TargetKind
    name: str
    level: str = PRIMARY

    @classmethod
    def parse(cls, text: str) -> Target:
        kind, sep, rest = text.partition(":")
        if not sep or not rest or kind not in (TargetKind.ROSTER, TargetKind.PERSON):
            raise InvalidValueError(
                f"invalid target {text!r}: expected 'roster:NAME', 'roster:NAME/LEVEL' or 'person:NAME'"
            )
        if kind == TargetKind.PERSON:
            if "/" in rest:
                raise InvalidValueError(f"invalid target {text!r}: a person target has no level")
            return cls(TargetKind.PERSON, rest)
        name, _, level = rest.partition("/")
        if not name or ("/" in rest and not level):
            raise InvalidValueError(f"invalid target {text!r}: expected 'roster:NAME' or 'roster:NAME/LEVEL'")
        return cls(TargetKind.ROSTER, name, level or PRIMARY)

    def __str__(self) -> str:
        if self.kind == TargetKind.ROSTER and self.level != PRIMARY:
            return f"roster:{self.name}/{self.level}"
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Step:
    targets: tuple[Target, ...]
    channels: tuple[str, ...]
    ack_within: timedelta


class AckMode(StrEnum):
    SINGLE = "single"
    DOUBLE = "double"


@dataclass(frozen=True)
class AckRule:
    """``single``: one ack stops escalation. ``double``: an ack pauses it and a confirmation must follow
    within ``confirm_within``. ``quorum`` distinct people make a stage; ``reack_after`` expires an ack."""

    mode: AckMode = AckMode.SINGLE
    confirm_within: timedelta | None = None
    quorum: int = 1
    reack_after: timedelta | None = None

    def __post_init__(self) -> None:
        if self.quorum < 1:
            raise InvalidValueError("quorum must be at least 1")
        if self.mode == AckMode.DOUBLE and self.confirm_within is None:
            raise InvalidValueError("double acknowledgement needs confirm_within")
        if self.mode == AckMode.SINGLE and self.confirm_within is not None:
            raise InvalidValueError("confirm_within only applies to double acknowledgement")


@dataclass(frozen=True)
class CrisisCell:
    """Paged all at once when the steps are exhausted; ``repeat_every`` pages it again until acked."""

    members: tuple[str, ...]
    channels: tuple[str, ...]
    quorum: int = 1
    bridge: str | None = None
    repeat_every: timedelta | None = None

    def __post_init__(self) -> None:
        if not self.members:
            raise InvalidValueError("a crisis cell needs members")
        if self.quorum < 1:
            raise InvalidValueError("crisis cell quorum must be at least 1")
        distinct = len(set(self.members))  # an ack stage counts distinct people
        if self.quorum > distinct:
            raise InvalidValueError(
                f"crisis cell quorum {self.quorum} can never be met: the cell has {distinct} distinct member(s)"
            )


@dataclass(frozen=True)
class Policy:
    """Steps run in order; the whole list runs ``1 + repeat`` times, then the crisis cell is paged."""

    name: str
    steps: tuple[Step, ...]
    ack: AckRule = AckRule()
    repeat: int = 0
    crisis_cell: CrisisCell | None = None
    notices: frozenset[str] = frozenset()  # acknowledged, confirmed, escalated, resolved: tell those paged
    outbound: tuple[str, ...] = ()  # providers (helpdesk, webhook) that receive the incident's events

    def __post_init__(self) -> None:
        if not self.steps:
            raise InvalidValueError(f"policy {self.name!r} has no steps")
        if self.repeat < 0:
            raise InvalidValueError("repeat cannot be negative")

    @property
    def roster_names(self) -> frozenset[str]:
        return frozenset(t.name for s in self.steps for t in s.targets if t.kind == TargetKind.ROSTER)
