"""Maintenance windows (silences): which alarms they hold, when, and what holding does to an incident.

A silence matches alarms as a route does (sources, severities, labels; no criterion matches all) and is
either one window (``starts_at`` to ``ends_at``, made at run time with the CLI or the API) or a weekly
recurring one declared in memoguard.yaml (``every: sunday 02:00-04:00`` in ``timezone``). Recurring
windows follow the wall clock of their zone: across a DST change, "02:00-04:00" is one real hour on the
last Sunday of March in Europe/Paris (02:00 does not exist: the window starts at 03:00 CEST) and three
on the last Sunday of October (02:00 is taken at its first occurrence, CEST).

Holding is not dropping: an alarm a silence matches is stored, and its new incident is opened SILENCED
(``escalation.decide`` on ``Silenced``), which pages nobody and arms a SILENCE_END timer at the window's
end. If the incident is still open then, it is triggered like any other (no alarm is lost to a forgotten
silence); resolved before, it never paged anyone. Only new incidents are held: an alarm joining an
incident already paging does not stop it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from memoguard.domain.decision import Decision
from memoguard.domain.duration import format_duration
from memoguard.domain.errors import InvalidValueError
from memoguard.domain.event import Silenced, TimerKind
from memoguard.domain.incident import IncidentState
from memoguard.domain.walltime import parse_time_of_day, parse_weekday

_EVERY = re.compile(r"^\s*(\S+)\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
_EVERY_DAY = ("day", "daily", "every")


@dataclass(frozen=True)
class Matcher:
    """What a silence holds: every given criterion must match (labels: each key equal)."""

    sources: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    labels: tuple[tuple[str, str], ...] = ()

    def matches(self, source: str, severity: str, labels: Mapping[str, str]) -> bool:
        if self.sources and source not in self.sources:
            return False
        if self.severities and severity not in self.severities:
            return False
        return all(labels.get(key) == value for key, value in self.labels)

    def describe(self) -> str:
        parts = [f"source={s}" for s in sorted(self.sources)] + [f"severity={s}" for s in sorted(self.severities)]
        parts += [f"{k}={v}" for k, v in self.labels]
        return ", ".join(parts) or "every alarm"


@dataclass(frozen=True)
class Weekly:
    """A window on some weekdays (0 Monday … 6 Sunday), from ``start`` to ``end`` local time in ``zone``;
    ``end`` at or before ``start`` ends the next day."""

    days: frozenset[int]
    start: time
    end: time
    zone: ZoneInfo

    def describe(self) -> str:
        """As memoguard.yaml writes it, with its zone: ``sun 02:00-04:00 Europe/Paris``."""
        names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        days = "day" if len(self.days) == 7 else ",".join(names[d] for d in sorted(self.days))
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}"

    def window_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence in force at ``now`` (aware), as UTC (start, end); None outside one."""
        local = now.astimezone(self.zone).date()
        for day in (local - timedelta(days=1), local):
            if day.weekday() not in self.days:
                continue
            start, end = self._occurrence(day)
            if start <= now < end:
                return start, end
        return None

    def next_window(self, now: datetime) -> tuple[datetime, datetime]:
        """The first occurrence starting after ``now``."""
        local = now.astimezone(self.zone).date()
        for offset in range(9):
            day = local + timedelta(days=offset)
            if day.weekday() in self.days:
                start, end = self._occurrence(day)
                if start > now:
                    return start, end
        raise AssertionError("a weekly window has an occurrence within 9 days")  # days is never empty

    def _occurrence(self, day: date) -> tuple[datetime, datetime]:
        end_day = day if self.end > self.start else day + timedelta(days=1)
        # Wall-clock times: a time in a DST gap or fold is read with fold=0 (zoneinfo's default).
        start = datetime.combine(day, self.start, self.zone).astimezone(UTC)
        end = datetime.combine(end_day, self.end, self.zone).astimezone(UTC)
        return start, end


def parse_every(text: str, zone: ZoneInfo) -> Weekly:
    """``sunday 02:00-04:00``, ``sat,sun 22:00-06:00`` or ``day 02:00-03:00`` (every day)."""
    found = _EVERY.fullmatch(text)
    if found is None:
        raise InvalidValueError(
            f"invalid window {text!r}: expected DAYS HH:MM-HH:MM such as 'sunday 02:00-04:00' or 'day 22:00-06:00'"
        )
    names, start, end = found.groups()
    if names.lower() in _EVERY_DAY:
        days = frozenset(range(7))
    else:
        days = frozenset(parse_weekday(name) for name in names.split(","))
    first, last = parse_time_of_day(start), parse_time_of_day(end)
    if first == last:
        raise InvalidValueError(f"invalid window {text!r}: it starts and ends at {start}")
    return Weekly(days, first, last, zone)


@dataclass(frozen=True)
class Silence:
    """One maintenance window. ``id`` is the stored number (run-time silences) or ``yaml:NAME``."""

    id: str
    matcher: Matcher
    comment: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    every: Weekly | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    removed_at: datetime | None = field(default=None, compare=False)

    def window_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        if self.removed_at is not None and self.removed_at <= now:
            return None
        if self.every is not None:
            return self.every.window_at(now)
        if self.starts_at is None or self.ends_at is None:
            return None
        return (self.starts_at, self.ends_at) if self.starts_at <= now < self.ends_at else None

    def describe(self) -> str:
        name = f"silence {self.id}"
        return f"{name} ({self.comment})" if self.comment else name


@dataclass(frozen=True)
class Hold:
    silence: Silence
    until: datetime

    def event(self) -> Silenced:
        return Silenced(self.silence.describe(), self.until)


def holding(
    silences: Iterable[Silence], source: str, severity: str, labels: Mapping[str, str], now: datetime
) -> Hold | None:
    """The silence holding an alarm at ``now``: among those matching and in force, the one ending last
    (the alarm is held until no matching window is left), the first declared on a tie."""
    best: Hold | None = None
    for silence in silences:
        window = silence.window_at(now)
        if window is None or not silence.matcher.matches(source, severity, labels):
            continue
        if best is None or window[1] > best.until:
            best = Hold(silence, window[1])
    return best


# --- what decide does with a silenced incident (escalation.decide calls these) -----------------------


def hold(d: Decision, event: Silenced) -> None:
    """A new incident inside a window: SILENCED, nobody paged, SILENCE_END armed at the window's end."""
    until = max(event.until, d.now)
    d.incident = replace(d.incident, state=IncidentState.SILENCED)
    d.rearm((TimerKind.SILENCE_END, until - d.now))
    seconds = (until - d.now).total_seconds()
    left = format_duration(timedelta(seconds=seconds if seconds < 60 else 60 * round(seconds / 60)))
    text = (
        f"Incident silenced: {d.incident.summary}; held by {event.silence} until "
        f"{until:%Y-%m-%d %H:%M}Z ({left}); nobody is paged unless it is still open then"
    )
    d.record("silenced", text)


def release(d: Decision) -> None:
    """The window ended with the incident still open: back to TRIGGERED, for the caller to page step 1."""
    d.incident = replace(d.incident, state=IncidentState.TRIGGERED)
    d.record("silence_ended", "The maintenance window ended and the incident is still open; escalating now")
