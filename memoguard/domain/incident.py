"""Incidents: what people act on, with a copy of the policy and rosters taken when they open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from memoguard.domain.policy import Policy
from memoguard.domain.roster import Roster


class IncidentState(StrEnum):
    SILENCED = "silenced"  # opened during a maintenance window (domain/silence.py): pages nobody until it ends
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Incident:
    """One incident and where its escalation stands.

    ``policy`` and ``rosters`` are copies taken at trigger time, so editing YAML later never changes an
    escalation in flight. ``version`` fences timers: it changes whenever pending timers are replaced.
    ``step`` is -1 until the Triggered event is decided; ``cycle`` counts passes through the steps.
    """

    id: str
    summary: str
    policy: Policy
    rosters: tuple[Roster, ...]
    opened_at: datetime
    severity: str = "critical"
    state: IncidentState = IncidentState.TRIGGERED
    version: int = 0
    cycle: int = 0
    step: int = -1
    crisis: bool = False
    paged: frozenset[str] = frozenset()
    stage_paged: tuple[str, ...] = ()
    undeliverable: frozenset[str] = frozenset()
    acked_by: tuple[str, ...] = ()
    confirmed_by: tuple[str, ...] = ()

    def roster(self, name: str) -> Roster:
        for roster in self.rosters:
            if roster.name == name:
                return roster
        raise LookupError(f"incident {self.id} has no copy of roster {name!r}")

    @property
    def is_open(self) -> bool:
        return self.state != IncidentState.RESOLVED

    @property
    def quorum(self) -> int:
        """Distinct people needed for an ack stage right now (the crisis cell has its own quorum)."""
        if self.crisis and self.policy.crisis_cell is not None:
            return self.policy.crisis_cell.quorum
        return self.policy.ack.quorum
