"""Rate limits as written in configuration (``20/s``, ``400/min``, ``2500/day``, ``100/250ms``) and the
sliding-window arithmetic that says how many sends a provider may start now.

A limit holds over every window of its length, not over calendar-aligned ones: "100/s" never lets 101
sends fall within any one second, whereas fixed windows allow 200 across a boundary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from memoguard.domain.errors import InvalidValueError

_PERIODS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "sec": timedelta(seconds=1),
    "second": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "min": timedelta(minutes=1),
    "minute": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "hour": timedelta(hours=1),
    "d": timedelta(days=1),
    "day": timedelta(days=1),
}
_TICK = timedelta(microseconds=1)
_RATE = re.compile(r"([0-9]+)\s*/\s*([0-9]*)\s*([a-z]+)")


@dataclass(frozen=True)
class Rate:
    count: int
    period: timedelta

    def __str__(self) -> str:
        return f"{self.count}/{_period_text(self.period)}"


def parse_rate(text: str) -> Rate:
    """Parse ``COUNT/PERIOD`` such as ``20/s``, ``400/min``, ``2500/day`` or ``100/250ms``."""
    match = _RATE.fullmatch(text.strip().lower())
    if match is None or match.group(3) not in _PERIODS:
        raise InvalidValueError(
            f"invalid rate {text!r}: expected COUNT/PERIOD such as 20/s, 400/min, 2500/day or 100/250ms "
            f"(periods: ms, s, min, h, day)"
        )
    count, multiple, unit = int(match.group(1)), int(match.group(2) or 1), _PERIODS[match.group(3)]
    if count < 1 or multiple < 1:
        raise InvalidValueError(f"invalid rate {text!r}: count and period must be at least 1")
    return Rate(count, multiple * unit)


def _period_text(period: timedelta) -> str:
    for name in ("day", "h", "min", "s"):
        if period == _PERIODS[name]:
            return name
    millis = int(period / timedelta(milliseconds=1))
    if millis % 1000 == 0:
        return f"{millis // 1000}s"
    return f"{millis}ms"


@dataclass(frozen=True)
class Allowance:
    """How many sends may start at ``now``, and when the next one may if that is zero."""

    available: int
    next_at: datetime


def allowance(rates: Sequence[Rate], sends: Sequence[datetime], now: datetime) -> Allowance:
    """``sends`` are the times of earlier sends still counting (in any order); a send in flight counts
    as happening ``now``, so pass it as ``now``. With no rates, there is no limit."""
    if not rates:
        return Allowance(1_000_000, now)
    available = 1_000_000
    next_at = now
    ordered = sorted(sends, reverse=True)  # newest first
    for rate in rates:
        within = [t for t in ordered if t >= now - rate.period]  # closed window: strict even at its edges
        free = rate.count - len(within)
        available = min(available, max(free, 0))
        if free <= 0:
            # The window frees a slot when the send that makes it full falls out of it.
            blocking = within[rate.count - 1]
            next_at = max(next_at, blocking + rate.period + _TICK)
    return Allowance(available, next_at)
