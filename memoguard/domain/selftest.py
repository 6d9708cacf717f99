"""When the self-test page goes out (issue 19): ``every: "mon 10:00"`` in a time zone, and the next time.

The grammar is the roster handoff's (``mon 09:00`` or ``09:00``) widened to several days, as the
silences' weekly windows write them: ``mon 10:00``, ``mon,thu 10:00``, ``day 10:00`` or ``10:00`` (every
day); weekdays in English or French (``lun 10:00``). The time is wall-clock time in the schedule's zone,
so a Monday 10:00 test stays at 10:00 on both sides of a daylight-saving change; a time the change skips
(02:30 on the spring night) happens at the change, as a handoff does (``walltime.to_instant``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from memoguard.domain.errors import InvalidValueError
from memoguard.domain.policy import Target
from memoguard.domain.walltime import WEEKDAYS, parse_time_of_day, parse_weekday, to_instant, to_local

_EVERY_DAY = ("day", "daily", "jour")


@dataclass(frozen=True)
class Schedule:
    days: frozenset[int]  # 0 Monday … 6 Sunday
    at: time
    zone: ZoneInfo

    def next_after(self, now: datetime) -> datetime:
        """The first run strictly after ``now`` (an aware instant), as a UTC instant."""
        day = to_local(now, self.zone).date()
        for offset in range(8):
            candidate = day + timedelta(days=offset)
            if candidate.weekday() not in self.days:
                continue
            instant = to_instant(datetime.combine(candidate, self.at), self.zone)
            if instant > now:
                return instant
        raise AssertionError("a weekly schedule always runs within 8 days")  # pragma: no cover

    def describe(self) -> str:
        days = "every day" if len(self.days) == 7 else ",".join(WEEKDAYS[d] for d in sorted(self.days))
        return f"{days} {self.at:%H:%M} {self.zone.key}"


def parse_schedule(text: str, zone: ZoneInfo) -> Schedule:
    """``mon 10:00``, ``mon,thu 10:00``, ``day 10:00`` or ``10:00`` (every day)."""
    parts = text.split()
    if len(parts) not in (1, 2):
        raise InvalidValueError(
            f"invalid schedule {text!r}: expected '[DAYS] HH:MM' such as 'mon 10:00', 'mon,thu 10:00' or 'day 10:00'"
        )
    at = parse_time_of_day(parts[-1])
    if len(parts) == 1 or parts[0].lower() in _EVERY_DAY:
        return Schedule(frozenset(range(7)), at, zone)
    return Schedule(frozenset(parse_weekday(name) for name in parts[0].split(",")), at, zone)


@dataclass(frozen=True)
class SelfTest:
    """The self-test of memoguard.yaml: a test page to ``target`` on ``schedule`` through each of the
    paged people's channels; unacknowledged within ``timeout``, it escalates through ``policy``."""

    schedule: Schedule
    target: Target
    timeout: timedelta
    policy: str
