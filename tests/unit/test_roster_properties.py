"""Roster resolution by property: random zones, anchors, shifts, windows and overrides.

Ranges are often drawn around a real UTC-offset change of the zone, so daylight-saving gaps, repeated
hours, 30-minute changes (Lord Howe), changes at midnight (Santiago, Havana), negative DST (Dublin) and
Samoa's skipped day all come up often.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memoguard.domain.roster import (
    OVERRIDE_SOURCE,
    PRIMARY,
    Assignment,
    Layer,
    Level,
    Override,
    Roster,
    Segment,
    Window,
)
from memoguard.domain.walltime import to_instant, to_local

ZONES = (
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "Europe/Dublin",  # negative DST in tzdata: winter is the "saving" time
    "America/New_York",
    "America/St_Johns",  # -03:30
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "Asia/Kolkata",  # +05:30, no DST
    "Asia/Kathmandu",  # +05:45, no DST
    "Asia/Tehran",  # +03:30, DST until 2022
    "Africa/Casablanca",  # DST suspended every Ramadan
)
PEOPLE = ("ann", "ben", "cat", "dan", "eve", "fay", "gus")
MICRO = timedelta(microseconds=1)
FIRST_YEAR, LAST_YEAR = 2010, 2030
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def transitions(name: str) -> tuple[datetime, ...]:
    """Instants at which the zone's UTC offset changes, found by a daily scan and a bisection."""
    zone = ZoneInfo(name)
    found = []
    day = datetime(FIRST_YEAR - 1, 1, 1, tzinfo=UTC)
    offset = day.astimezone(zone).utcoffset()
    while day.year <= LAST_YEAR + 1:
        following = day + timedelta(days=1)
        new_offset = following.astimezone(zone).utcoffset()
        if new_offset != offset:
            low, high = day, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            found.append(high.replace(microsecond=0))
        day, offset = following, new_offset
    return tuple(found)


@dataclass(frozen=True)
class EveryNthDay:
    """A fake holiday calendar: a day is a holiday when its ordinal is ``rest`` modulo ``every``."""

    every: int
    rest: int

    @property
    def code(self) -> str:
        return f"N{self.every}R{self.rest}"

    def is_holiday(self, day: date) -> bool:
        return day.toordinal() % self.every == self.rest


# --- strategies ---------------------------------------------------------------------------------------

# Times of day that often fall in a gap or a repeated hour, and arbitrary quarter hours.
_USUAL = "00:00 00:30 01:00 01:30 02:00 02:30 02:45 03:00 08:30 09:00 18:00 23:00 23:30"
clocks = st.one_of(
    st.sampled_from([time.fromisoformat(text) for text in _USUAL.split()]),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
)
day_sets = st.none() | st.frozensets(st.integers(0, 6), min_size=1)
holiday_windows = st.builds(
    lambda every, rest: Window(holidays=EveryNthDay(every, rest % every)), st.integers(2, 9), st.integers(0, 8)
)
shift_lengths = st.one_of(
    st.integers(1, 24 * 14).map(lambda hours: timedelta(hours=hours)),
    st.integers(1, 14).map(lambda days: timedelta(days=days)),
)


@st.composite
def ranges(draw: st.DrawFn, name: str) -> tuple[datetime, datetime]:
    """[start, end) of up to three weeks, usually around one of the zone's offset changes."""
    changes = [t for t in transitions(name) if FIRST_YEAR <= t.year <= LAST_YEAR]
    if changes and draw(st.integers(0, 3)):
        start = draw(st.sampled_from(changes)) - timedelta(minutes=draw(st.integers(0, 3 * 1440)))
    else:
        minutes = draw(st.integers(0, (LAST_YEAR - FIRST_YEAR) * 365 * 1440))
        start = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    start += timedelta(seconds=draw(st.sampled_from([0, 0, 0, 17])))
    length = timedelta(minutes=draw(st.integers(1, 21 * 1440)))
    return start, start + length


def clocks_near_changes(zone: ZoneInfo, start: datetime, end: datetime) -> st.SearchStrategy[time]:
    """Quarter hours at and around the wall-clock readings of the zone's offset changes near [start, end)."""
    near = set()
    for change in transitions(str(zone)):
        if start - timedelta(days=1) <= change <= end + timedelta(days=1):
            for reading in (to_local(change, zone), to_local(change - timedelta(seconds=1), zone)):
                base = reading.replace(minute=reading.minute - reading.minute % 15, second=0)
                near.update((base + timedelta(minutes=15 * k)).time() for k in range(-4, 6))
    return st.one_of(clocks, st.sampled_from(sorted(near))) if near else clocks


@st.composite
def layers(
    draw: st.DrawFn,
    around: datetime,
    name: str,
    times: st.SearchStrategy[time] = clocks,
    unique: bool = False,
    with_windows: bool = True,
) -> Layer:
    members = draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=5, unique=unique))
    shift = draw(shift_lengths)
    day = around.date() + timedelta(days=draw(st.integers(-400, 3)))
    anchor = datetime.combine(day, draw(times))
    chosen: tuple[Window, ...] = ()
    if with_windows:
        timed = st.builds(Window, days=day_sets, start=st.none() | times, end=st.none() | times)
        chosen = tuple(draw(st.lists(st.one_of(timed, holiday_windows), max_size=3)))
    return Layer(name, tuple(members), shift, anchor, chosen)


@dataclass(frozen=True)
class Scenario:
    roster: Roster
    start: datetime
    end: datetime

    @property
    def zone(self) -> ZoneInfo:
        zone = self.roster.timezone
        assert isinstance(zone, ZoneInfo)
        return zone


@st.composite
def scenarios(draw: st.DrawFn, max_overrides: int = 4) -> Scenario:
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    start, end = draw(ranges(name))
    around, times = to_local(start, zone), clocks_near_changes(zone, start, end)
    count = draw(st.integers(1, 3))
    base = tuple(draw(layers(around, f"layer{i}", times)) for i in range(count))
    levels: list[Level] = []
    if draw(st.booleans()):
        levels.append(Level("secondary", offset=draw(st.integers(0, 4))))
    if draw(st.booleans()):
        own = tuple(draw(layers(around, f"own{i}", times)) for i in range(draw(st.integers(1, 2))))
        levels.append(Level("backup", layers=own))
    level_names = (PRIMARY, *(level.name for level in levels))
    overrides = []
    span = int((end - start) / timedelta(minutes=1))
    for _ in range(draw(st.integers(0, max_overrides))):
        begin = start + timedelta(minutes=draw(st.integers(-600, span + 600)))
        length = timedelta(minutes=draw(st.integers(1, 3 * 1440)))
        overrides.append(
            Override(draw(st.sampled_from(PEOPLE)), begin, begin + length, draw(st.sampled_from(level_names)))
        )
    return Scenario(Roster("random", zone, base, tuple(levels), tuple(overrides)), start, end)


# --- helpers ------------------------------------------------------------------------------------------


def assignment(segment: Segment) -> Assignment | None:
    return Assignment(segment.person, segment.source) if segment.person is not None else None


def probes(segment: Segment, fractions: list[float], zone: ZoneInfo) -> list[datetime]:
    """Instants inside the segment: its ends, chosen fractions and a fine grid around offset changes."""
    found = [segment.start, segment.end - MICRO, segment.start + segment.duration / 2]
    found += [segment.start + segment.duration * f for f in fractions]  # may round to the end: filtered
    for change in transitions(str(zone)):
        if segment.start - timedelta(hours=3) < change < segment.end + timedelta(hours=3):
            found += [change + timedelta(minutes=5 * step) for step in range(-36, 37)]
            found += [change - MICRO]
    return [t for t in found if segment.start <= t < segment.end]


def check_tiling(segments: list[Segment], start: datetime, end: datetime) -> None:
    assert segments[0].start == start
    assert segments[-1].end == end
    for segment in segments:
        assert segment.start < segment.end
    for before, after in pairwise(segments):
        assert before.end == after.start
        assert (before.person, before.source) != (after.person, after.source)
        assert (before.person is None) == (before.source is None)


# --- properties ---------------------------------------------------------------------------------------


@SETTINGS
@given(scenarios(), st.data(), st.lists(st.floats(0, 1, exclude_max=True), max_size=8))
def test_segments_tile_the_range_and_oncall_is_constant_inside_each(
    scenario: Scenario, data: st.DataObject, fractions: list[float]
) -> None:
    roster, start, end = scenario.roster, scenario.start, scenario.end
    level = data.draw(st.sampled_from(roster.level_names), label="level")
    segments = roster.segments(start, end, level)
    check_tiling(segments, start, end)
    for segment in segments:
        for instant in probes(segment, fractions, scenario.zone):
            assert roster.oncall(instant, level) == assignment(segment), (instant, segment)
    assert roster.shifts(start, end, level) == [s for s in segments if s.person is not None]
    assert roster.gaps(start, end, level) == [s for s in segments if s.person is None]


@st.composite
def windows_across_a_change(draw: st.DrawFn) -> Scenario:
    """One rotation with windows whose edges sit on or near the wall-clock readings of an offset change."""
    name = draw(st.sampled_from([zone for zone in ZONES if transitions(zone)]))
    zone = ZoneInfo(name)
    change = draw(st.sampled_from([t for t in transitions(name) if FIRST_YEAR <= t.year <= LAST_YEAR]))
    start = change - timedelta(minutes=draw(st.integers(0, 36 * 60)))
    end = change + timedelta(minutes=draw(st.integers(1, 36 * 60)))
    times = clocks_near_changes(zone, start, end)
    timed = st.builds(Window, days=st.none() | day_sets, start=st.none() | times, end=st.none() | times)
    members = tuple(draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3, unique=True)))
    anchor = datetime.combine(to_local(start, zone).date() - timedelta(days=draw(st.integers(1, 30))), draw(times))
    chosen = tuple(draw(st.lists(timed, min_size=1, max_size=2)))
    layer = Layer("windowed", members, draw(shift_lengths), anchor, chosen)
    return Scenario(Roster("windowed", zone, (layer,)), start, end)


@SETTINGS
@given(windows_across_a_change())
def test_window_edges_near_an_offset_change_agree_with_oncall(scenario: Scenario) -> None:
    roster, start, end = scenario.roster, scenario.start, scenario.end
    segments = roster.segments(start, end)
    check_tiling(segments, start, end)
    for segment in segments:
        for instant in probes(segment, [], scenario.zone):
            assert roster.oncall(instant) == assignment(segment), (instant, segment)


@SETTINGS
@given(scenarios(), st.data())
def test_segments_of_a_sub_range_are_the_segments_of_the_range_clipped(scenario: Scenario, data: st.DataObject) -> None:
    roster, start, end = scenario.roster, scenario.start, scenario.end
    cut = start + MICRO * data.draw(st.integers(1, (end - start) // MICRO - 1), label="cut")
    whole = roster.segments(start, end)
    left, right = roster.segments(start, cut), roster.segments(cut, end)
    joined = [*left[:-1], Segment(left[-1].start, right[0].end, left[-1].person, left[-1].source), *right[1:]]
    if (left[-1].person, left[-1].source) != (right[0].person, right[0].source):
        joined = [*left, *right]
    assert joined == whole


@st.composite
def rotations(draw: st.DrawFn) -> Scenario:
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    start, end = draw(ranges(name))
    times = clocks_near_changes(zone, start, end)
    layer = draw(layers(to_local(start, zone), "only", times, unique=True, with_windows=False))
    return Scenario(Roster("rotation", zone, (layer,)), start, end)


@SETTINGS
@given(rotations())
def test_an_always_active_rotation_hands_over_to_the_next_member_in_order(scenario: Scenario) -> None:
    roster, start, end, zone = scenario.roster, scenario.start, scenario.end, scenario.zone
    layer = roster.layers[0]
    members = layer.members

    # Build the expected answer from the handoffs alone: shift k belongs to members[k % n].
    expected: list[tuple[datetime, datetime, str | None]] = []
    first = layer.handoff(0, zone)
    if start < first:
        expected.append((start, min(first, end), None))
    index = layer.shift_index(max(start, first), zone)
    assert index is not None or first >= end
    while index is not None:
        begin, finish = layer.handoff(index, zone), layer.handoff(index + 1, zone)
        assert begin <= finish
        if begin >= end:
            break
        if begin == finish:
            # An empty shift only happens when the whole shift falls in a skipped stretch of wall time.
            naive = layer.anchor + index * layer.shift
            assert to_local(to_instant(naive, zone), zone) != naive
        else:
            person = members[index % len(members)]
            piece = (max(begin, start), min(finish, end), person)
            if expected and expected[-1][2] == person:
                expected[-1] = (expected[-1][0], piece[1], person)
            else:
                expected.append(piece)
        index += 1
    segments = roster.segments(start, end)
    assert [(s.start, s.end, s.person) for s in segments] == expected

    # Consecutive shifts go from member i to member i + 1 (mod n), unless a shift was swallowed whole.
    for before, after in pairwise(s for s in segments if s.person is not None):
        i = layer.shift_index(after.start - MICRO, zone)  # the shift ending at the boundary
        j = layer.shift_index(after.start, zone)
        assert i is not None and j is not None
        assert before.person == members[i % len(members)]
        assert after.start == layer.handoff(j, zone)
        skipped = range(i + 1, j)
        assert all(layer.handoff(k, zone) == layer.handoff(k + 1, zone) for k in skipped)
        if not skipped:
            assert members.index(after.person or "") == (members.index(before.person or "") + 1) % len(members)


@SETTINGS
@given(rotations(), st.integers(0, 60))
def test_day_multiple_shifts_hand_off_at_the_anchors_wall_time_unless_it_does_not_exist(
    scenario: Scenario, index: int
) -> None:
    zone = scenario.zone
    layer = scenario.roster.layers[0]
    days = max(1, layer.shift // timedelta(days=1))
    layer = Layer(layer.name, layer.members, timedelta(days=days), layer.anchor)
    naive = layer.anchor + index * layer.shift
    assert naive.time() == layer.anchor.time()
    handoff = layer.handoff(index, zone)
    local = to_local(handoff, zone)
    if to_local(to_instant(naive, zone), zone) == naive:
        assert local == naive
        assert local.time() == layer.anchor.time()
    else:
        # in a gap: the handoff is the change, the first instant whose wall time is past the handoff time
        assert local > naive
        assert to_local(handoff - timedelta(seconds=1), zone) < naive
        assert handoff.microsecond == 0
    assert layer.shift_index(handoff, zone) == index or layer.handoff(index + 1, zone) == handoff


@SETTINGS
@given(rotations(), st.data())
def test_shift_index_is_the_last_handoff_at_or_before_the_instant(scenario: Scenario, data: st.DataObject) -> None:
    zone, layer = scenario.zone, scenario.roster.layers[0]
    start, end = scenario.start, scenario.end
    instant = start + (end - start) * data.draw(st.floats(0, 1, exclude_max=True), label="where")
    index = layer.shift_index(instant, zone)
    if index is None:
        assert instant < layer.handoff(0, zone)
        assert scenario.roster.oncall(instant) is None
    else:
        assert layer.handoff(index, zone) <= instant < layer.handoff(index + 1, zone)
        assert scenario.roster.oncall(instant) == Assignment(layer.members[index % len(layer.members)], "only")


@SETTINGS
@given(scenarios(max_overrides=6), st.lists(st.floats(0, 1, exclude_max=True), max_size=6))
def test_an_override_always_wins_inside_its_span_and_the_last_defined_wins_overlaps(
    scenario: Scenario, fractions: list[float]
) -> None:
    roster = scenario.roster
    overrides = roster.overrides
    for override in overrides:
        span = override.end - override.start
        inside = [min(override.start + span * f, override.end - MICRO) for f in fractions]
        for instant in [override.start, override.end - MICRO, *inside]:
            covering = [o for o in overrides if o.level == override.level and o.start <= instant < o.end]
            winner = covering[-1]  # defined last
            assert roster.oncall(instant, override.level) == Assignment(winner.who, OVERRIDE_SOURCE)
        for instant in (override.start - MICRO, override.end):
            if not any(o.level == override.level and o.start <= instant < o.end for o in overrides):
                found = roster.oncall(instant, override.level)
                assert found is None or found.source != OVERRIDE_SOURCE


@SETTINGS
@given(scenarios(max_overrides=0), st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3), st.data())
def test_with_overrides_takes_over_exactly_the_overridden_spans(
    scenario: Scenario, people: list[str], data: st.DataObject
) -> None:
    roster, start, end = scenario.roster, scenario.start, scenario.end
    extra = []
    for person in people:
        a, b = sorted(data.draw(st.lists(st.floats(0, 1), min_size=2, max_size=2), label="bounds"))
        begin, finish = start + (end - start) * a, start + (end - start) * b
        if finish > begin:
            extra.append(Override(person, begin, finish))
    combined = roster.with_overrides(extra)
    segments = combined.segments(start, end)
    check_tiling(segments, start, end)
    for segment in segments:
        middle = segment.start + segment.duration / 2
        covering = [o for o in extra if o.start <= middle < o.end]
        if covering:
            assert (segment.person, segment.source) == (covering[-1].who, OVERRIDE_SOURCE)
        else:
            assert assignment(segment) == roster.oncall(middle)
