"""Calls and rate slots: what a dispatch round plans, and when each call may go.

A call is one request to one provider — a message, a storm bundle, a batch submission, a job poll — and
costs one slot of that provider's rate limits, whatever the number of rows it carries. The limits are
sliding windows (``domain/rate.py``) checked against the log of calls kept in the database, so every
instance sees the same budget. This module is apart from the planning and the recording because both the
round's plan and its run read the budget: a call that ran late pushes the next one (``Budget.recount``).
A page that must wait for a slot says so on its timeline (``record_held``): held, why, until when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from memoguard.domain.effect import Purpose
from memoguard.domain.rate import Rate, allowance
from memoguard.services.record import Notification
from memoguard.services.store import Unit

# How long a claimed row is ours before another dispatcher may take it, where a claim is a lease: on SQLite
# and for claims older than revision 0005. On PostgreSQL a claim lasts as long as its claimer's session.
LEASE = timedelta(seconds=30)
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

    def why(self, provider: str, slot: datetime) -> str:
        """Why a call must wait for ``slot``, in words for the timeline and ``memoguard queue``."""
        if self.blocked_until is not None and slot <= self.blocked_until:
            return f"{provider} asked to wait"
        return f"rate limit of {provider} ({', '.join(str(rate) for rate in self.rates)})"


def held_note(why: str) -> str:
    """What a row held back says in its ``error`` (read by ``memoguard queue`` and the incident view)."""
    return f"held: {why}"


def record_held(unit: Unit, n: Notification, until: datetime, why: str, now: datetime) -> None:
    """Put on the timeline that page ``n`` waits until ``until`` and why, once per reason: a page deferred
    round after round by the same full rate window is not written again each time."""
    if n.purpose != Purpose.PAGE.value or n.error == held_note(why):
        return
    text = f"Page #{n.id} to {n.person} held until {instant(until)}: {why}"
    unit.add_entry(n.incident, now, "delivery_held", text, n.person)


def instant(at: datetime) -> str:
    """A moment as timeline texts give it: UTC, to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
