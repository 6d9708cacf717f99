"""Calls and rate slots: what a dispatch round plans, and when each call may go.

A call is one request to one provider — a message, a storm bundle, a batch submission, a job poll — and
costs one slot of that provider's rate limits, whatever the number of rows it carries. The limits are
sliding windows (``domain/rate.py``) checked against the log of calls kept in the database, so every
instance sees the same budget. This module is apart from the planning and the recording because both the
round's plan and its run read the budget: a call that ran late pushes the next one (``Budget.recount``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from memoguard.domain.rate import Rate, allowance
from memoguard.services.record import Notification

LEASE = timedelta(seconds=30)  # how long a claimed row is ours before another dispatcher may take it
EARLIEST = datetime.min.replace(tzinfo=UTC)
AHEAD = timedelta(seconds=1)  # with pacing: how far ahead a round plans rate slots


@dataclass
class Call:
    """One call to one provider, costing one slot of its rate limits. ``beyond``: a storm bundle sent
    although the person's storm window is full (it says so on the timeline, and stays a bundle even if
    only one of its pages is still wanted)."""

    provider: str
    kind: str  # single, bundle, batch, poll
    rows: list[Notification]
    references: dict[int, str | None] = field(default_factory=dict)
    reservation: int | None = None
    slot: datetime = EARLIEST  # when its rate slot opens
    beyond: bool = False


@dataclass
class Budget:
    """A provider's rate limits in this round: the calls that count, and the slots planned now."""

    rates: tuple[Rate, ...]
    sends: list[datetime]  # counted calls (one in flight as late as it may still happen), plus planned ones
    blocked_until: datetime | None
    planned: int = 0  # how many of ``sends`` are this round's plan (the last ones)
    made: list[datetime] = field(default_factory=list)  # this round's calls, when each really ended

    def recount(self) -> Budget:
        """The limits as the calls of this round really went: a call that ran late pushes the next one."""
        before = self.sends[: len(self.sends) - self.planned]
        return Budget(self.rates, before + self.made, self.blocked_until)

    def slot(self, now: datetime) -> datetime:
        """The earliest moment from ``now`` at which one more call fits every window."""
        at = max(now, self.blocked_until or now)
        if not self.rates:
            return at
        while True:
            allowed = allowance(self.rates, self.sends, at)
            if allowed.available > 0:
                return at
            at = allowed.next_at
