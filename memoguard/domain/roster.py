"""Rosters: who is on call at any instant, the shifts over a window and the gaps in coverage.

A roster has layers of rotations. Layers listed later are higher: at any instant the highest layer that
is active and has someone for the asked level wins, and an override beats every layer. Every boundary
(handoff, window edge, midnight) is computed in the roster's local time, then turned into an instant.
Lookups are arithmetic on the rotation (no walk through past shifts) and a bisection over overrides,
so they cost the same in the roster's first week and in its tenth year.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol

from memoguard.domain.errors import InvalidValueError, UnknownLevelError
from memoguard.domain.walltime import midnight, offset_change, to_instant, to_local

PRIMARY = "primary"
OVERRIDE_SOURCE = "override"


class HolidayCalendar(Protocol):
    """Public holidays of one country (or region); built outside the domain from a holiday library."""

    @property
    def code(self) -> str: ...

    def is_holiday(self, day: date) -> bool: ...


@dataclass(frozen=True)
class Window:
    """When a layer is active. ``days`` are the days a window starts on (None: every day).

    ``start``/``end`` of None mean midnight; an ``end`` at or before ``start`` runs into the next day
    (18:00–08:30). A window with ``holidays`` is active for the whole of each public holiday.
    """

    days: frozenset[int] | None = None
    start: time | None = None
    end: time | None = None
    holidays: HolidayCalendar | None = None

    @property
    def wraps(self) -> bool:
        return self.end is not None and self.end <= (self.start or time())

    def contains(self, local: datetime) -> bool:
        day, clock = local.date(), local.time()
        if self.holidays is not None:
            return self.holidays.is_holiday(day)
        start = self.start or time()
        if self.wraps:
            assert self.end is not None
            previous = day - timedelta(days=1)
            return (self._starts_on(day) and clock >= start) or (self._starts_on(previous) and clock < self.end)
        return self._starts_on(day) and clock >= start and (self.end is None or clock < self.end)

    def edges(self, day: date) -> list[datetime]:
        """Local edges of the window that starts on ``day`` (midnights are added by the caller)."""
        if self.holidays is not None or not self._starts_on(day):
            return []
        edges = [datetime.combine(day, self.start or time())]
        if self.end is not None:
            end_day = day + timedelta(days=1) if self.wraps else day
            edges.append(datetime.combine(end_day, self.end))
        return edges

    def _starts_on(self, day: date) -> bool:
        return self.days is None or day.weekday() in self.days


@dataclass(frozen=True)
class Layer:
    """A rotation: members take turns, each for ``shift`` of wall-clock time, from ``anchor`` on."""

    name: str
    members: tuple[str, ...]
    shift: timedelta
    anchor: datetime  # naive local datetime of the first handoff
    windows: tuple[Window, ...] = ()

    def __post_init__(self) -> None:
        if not self.members:
            raise InvalidValueError(f"layer {self.name!r} has no members")
        if self.shift < timedelta(hours=1):
            raise InvalidValueError(f"layer {self.name!r}: a shift must last at least 1h")

    def handoff(self, index: int, zone: tzinfo) -> datetime:
        """Instant of the handoff that starts shift ``index`` (0 is the first shift)."""
        return to_instant(self.anchor + index * self.shift, zone)

    def shift_index(self, at: datetime, zone: tzinfo) -> int | None:
        """Index of the shift running at ``at``, or None before the first handoff."""
        first = self.handoff(0, zone)
        if at < first:
            return None
        # Wall-clock shifts differ from real time by at most the DST offsets, so the estimate is at
        # most a couple of shifts off; the loops settle it exactly.
        index = int((at - first) / self.shift)
        while index > 0 and self.handoff(index, zone) > at:
            index -= 1
        while self.handoff(index + 1, zone) <= at:
            index += 1
        return index

    def member(self, index: int, offset: int) -> str | None:
        """Who holds shift ``index``, ``offset`` places down the rotation; None if that is the same person."""
        if offset and offset % len(self.members) == 0:
            return None
        return self.members[(index + offset) % len(self.members)]

    def backup(self, index: int, offset: int, avoid: str) -> str | None:
        """The first member from ``offset`` places down the rotation on who is not ``avoid``."""
        count = len(self.members)
        for extra in range(count):
            person = self.members[(index + offset + extra) % count]
            if person != avoid:
                return person
        return None

    def is_active(self, local: datetime) -> bool:
        return not self.windows or any(window.contains(local) for window in self.windows)


@dataclass(frozen=True)
class Level:
    """A level other than primary: the rotation ``offset`` places down, or layers of its own."""

    name: str
    offset: int = 0
    layers: tuple[Layer, ...] | None = None


@dataclass(frozen=True)
class Override:
    """``who`` is on call at ``level`` from ``start`` (inclusive) to ``end`` (exclusive), above every layer."""

    who: str
    start: datetime
    end: datetime
    level: str = PRIMARY
    ref: str = ""  # where it comes from: a YAML path or a database id
    source: str = OVERRIDE_SOURCE  # what ``oncall`` and segments show as the source ("override #3" from the database)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidValueError("override bounds must be aware instants")
        if self.end <= self.start:
            raise InvalidValueError(f"override for {self.who!r} ends before it starts")


@dataclass(frozen=True)
class Assignment:
    """Who is on call, and why: a layer's name, or ``override`` (``override #3`` for one stored in the database)."""

    person: str
    source: str


@dataclass(frozen=True)
class Segment:
    """A stretch of time with one answer: ``person`` is None for a gap."""

    start: datetime
    end: datetime
    person: str | None
    source: str | None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class DoubleDuty:
    """``person`` is on call at two levels at once during ``periods`` (in order, none touching): the
    ``second`` level is then no second chance, paging it wakes the one who did not answer the first."""

    person: str
    first: str
    second: str
    periods: tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True)
class _OverrideIndex:
    """Overrides of one level sorted by start, to find those covering an instant without a full scan."""

    starts: tuple[datetime, ...]
    entries: tuple[tuple[int, Override], ...]  # (position in the roster's list, override)
    longest: timedelta

    @classmethod
    def build(cls, overrides: Iterable[tuple[int, Override]]) -> _OverrideIndex:
        entries = tuple(sorted(overrides, key=lambda item: item[1].start))
        longest = max((o.end - o.start for _, o in entries), default=timedelta())
        return cls(tuple(o.start for _, o in entries), entries, longest)

    def covering(self, at: datetime) -> Override | None:
        """The override in force at ``at``; the one defined last wins where several overlap."""
        high = bisect.bisect_right(self.starts, at)
        low = bisect.bisect_left(self.starts, at - self.longest)
        best: tuple[int, Override] | None = None
        for position, override in self.entries[low:high]:
            if override.end > at and (best is None or position > best[0]):
                best = (position, override)
        return best[1] if best else None


@dataclass(frozen=True)
class Roster:
    name: str
    timezone: tzinfo
    layers: tuple[Layer, ...]
    levels: tuple[Level, ...] = ()
    overrides: tuple[Override, ...] = ()
    _index: dict[str, _OverrideIndex] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        names = self.level_names
        for override in self.overrides:
            if override.level not in names:
                raise UnknownLevelError(f"roster {self.name!r} has no level {override.level!r}")
        index = {
            name: _OverrideIndex.build((i, o) for i, o in enumerate(self.overrides) if o.level == name)
            for name in names
        }
        object.__setattr__(self, "_index", index)

    @property
    def level_names(self) -> tuple[str, ...]:
        return (PRIMARY, *(level.name for level in self.levels))

    def with_overrides(self, extra: Sequence[Override]) -> Roster:
        """A copy with ``extra`` overrides added after (so above) the roster's own."""
        return replace(self, overrides=(*self.overrides, *extra))

    def oncall(self, at: datetime, level: str = PRIMARY) -> Assignment | None:
        """Who is on call at the instant ``at`` for ``level``; None when nobody is (a gap)."""
        layers, offset = self._rotation(level)
        override = self._index[level].covering(at)
        if override is not None:
            return Assignment(override.who, override.source)
        # An offset level backs the primary up, so it never names whoever is primary right now: when an
        # override puts the rotation's next person on primary, the member after them backs up instead.
        # (Without overrides the two can only meet when the offset wraps round, which already means nobody.)
        primary = self.oncall(at, PRIMARY) if offset else None
        avoid = primary.person if primary else None
        local = to_local(at, self.timezone)
        for layer in reversed(layers):
            if not layer.is_active(local):
                continue
            index = layer.shift_index(at, self.timezone)
            if index is None:
                continue
            person = layer.member(index, offset)
            if person is not None and person == avoid:
                person = layer.backup(index, offset, avoid)
            if person is not None:
                return Assignment(person, layer.name)
        return None

    def segments(self, start: datetime, end: datetime, level: str = PRIMARY) -> list[Segment]:
        """The whole of [start, end) cut into stretches with one answer each (gaps included)."""
        if end <= start:
            return []
        segments: list[Segment] = []
        edges = sorted({start, *self._edges(start, end, level)})
        for here, there in zip(edges, [*edges[1:], end], strict=True):
            found = self.oncall(here, level)
            person, source = (found.person, found.source) if found else (None, None)
            last = segments[-1] if segments else None
            if last is not None and (last.person, last.source) == (person, source):
                segments[-1] = replace(last, end=there)
            else:
                segments.append(Segment(here, there, person, source))
        return segments

    def shifts(self, start: datetime, end: datetime, level: str = PRIMARY) -> list[Segment]:
        """The covered stretches of [start, end): one entry per person and source in a row."""
        return [segment for segment in self.segments(start, end, level) if segment.person is not None]

    def gaps(self, start: datetime, end: datetime, level: str = PRIMARY) -> list[Segment]:
        """The stretches of [start, end) with nobody on call at ``level``."""
        return [segment for segment in self.segments(start, end, level) if segment.person is None]

    def double_duty(self, start: datetime, end: datetime) -> list[DoubleDuty]:
        """Whoever is on call at two levels at once within [start, end), per pair of levels (in the
        roster's order) and person. Levels with layers of their own can do it (an offset level steps
        round the primary); so can overrides."""
        shifts = {level: self.shifts(start, end, level) for level in self.level_names}
        found: list[DoubleDuty] = []
        for index, first in enumerate(self.level_names):
            for second in self.level_names[index + 1 :]:
                periods: dict[str, list[tuple[datetime, datetime]]] = {}
                for person, since, until in _together(shifts[first], shifts[second]):
                    mine = periods.setdefault(person, [])
                    if mine and mine[-1][1] == since:
                        mine[-1] = (mine[-1][0], until)
                    else:
                        mine.append((since, until))
                found.extend(DoubleDuty(person, first, second, tuple(p)) for person, p in sorted(periods.items()))
        return found

    def _rotation(self, level: str) -> tuple[tuple[Layer, ...], int]:
        if level == PRIMARY:
            return self.layers, 0
        for candidate in self.levels:
            if candidate.name == level:
                if candidate.layers is not None:
                    return candidate.layers, 0
                return self.layers, candidate.offset
        raise UnknownLevelError(f"roster {self.name!r} has no level {level!r} (levels: {', '.join(self.level_names)})")

    def _edges(self, start: datetime, end: datetime, level: str) -> Iterator[datetime]:
        """Every instant in (start, end) where the answer may change."""
        layers, offset = self._rotation(level)
        followed = {level, PRIMARY} if offset else {level}  # an offset level moves with primary overrides
        for override in self.overrides:
            if override.level in followed:
                yield from (t for t in (override.start, override.end) if start < t < end)
        first_day = to_local(start, self.timezone).date() - timedelta(days=1)
        last_day = to_local(end, self.timezone).date() + timedelta(days=1)
        local_edges: set[datetime] = set()
        day = first_day
        while day <= last_day:
            local_edges.add(midnight(day))
            for layer in layers:
                for window in layer.windows:
                    local_edges.update(window.edges(day))
            day += timedelta(days=1)
        for local in local_edges:
            yield from (t for t in _crossings(local, self.timezone) if start < t < end)
        for layer in layers:
            yield from _handoffs(layer, self.timezone, start, end)


def _together(one: Sequence[Segment], other: Sequence[Segment]) -> Iterator[tuple[str, datetime, datetime]]:
    """``(person, start, end)`` where two sorted lists of shifts name the same person at the same time."""
    i = j = 0
    while i < len(one) and j < len(other):
        a, b = one[i], other[j]
        since, until = max(a.start, b.start), min(a.end, b.end)
        if since < until and a.person is not None and a.person == b.person:
            yield a.person, since, until
        if a.end <= b.end:
            i += 1
        else:
            j += 1


def _crossings(local: datetime, zone: tzinfo) -> Iterator[datetime]:
    """Instants at which the wall clock may cross ``local``: its instant, and for a time the clocks show
    twice, also the change where they go back over it and its second reading (windows read the wall
    clock, so a window edge in the repeated hour is crossed again after the change)."""
    first = to_instant(local, zone)
    yield first
    second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if second > first and to_local(second, zone) == local:
        yield second
        yield offset_change(first, second, zone)


def _handoffs(layer: Layer, zone: tzinfo, start: datetime, end: datetime) -> Iterator[datetime]:
    index = layer.shift_index(start, zone)
    index = 0 if index is None else index + 1
    while (instant := layer.handoff(index, zone)) < end:
        if instant > start:
            yield instant
        index += 1


def utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC (naive input is refused: the domain never guesses a zone)."""
    if value.tzinfo is None:
        raise InvalidValueError(f"{value.isoformat()} has no time zone")
    return value.astimezone(UTC)
