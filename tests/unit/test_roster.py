"""Roster resolution by example: rotations, handoffs across DST, windows, levels, overrides, segments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from memoguard.domain.errors import InvalidValueError, UnknownLevelError
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
    utc,
)
from memoguard.domain.walltime import to_instant, to_local

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")

WEEK = timedelta(weeks=1)
DAY = timedelta(days=1)
MICRO = timedelta(microseconds=1)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
WEEKDAYS = frozenset({MON, TUE, WED, THU, FRI})
WEEKEND = frozenset({SAT, SUN})
ANCHOR = datetime(2026, 1, 5, 9, 0)  # a Monday, 09:00 local


@dataclass(frozen=True)
class FakeHolidays:
    """A holiday calendar that knows only the days it is given."""

    code: str
    days: frozenset[date]

    def is_holiday(self, day: date) -> bool:
        return day in self.days


FR = FakeHolidays("FR", frozenset({date(2026, 5, 1), date(2026, 7, 14), date(2026, 12, 25)}))


def at(zone: ZoneInfo, *fields: int) -> datetime:
    """The instant a wall clock in ``zone`` shows the given local date and time."""
    return to_instant(datetime(*fields), zone)  # type: ignore[arg-type]


def paris(*fields: int) -> datetime:
    return at(PARIS, *fields)


def who(roster: Roster, instant: datetime, level: str = PRIMARY) -> str | None:
    found = roster.oncall(instant, level)
    return found.person if found else None


def rotation(
    members: tuple[str, ...] = ("alice", "bob", "carol"),
    shift: timedelta = WEEK,
    anchor: datetime = ANCHOR,
    windows: tuple[Window, ...] = (),
    name: str = "rotation",
) -> Layer:
    return Layer(name, members, shift, anchor, windows)


def nights_and_weekends(overrides: tuple[Override, ...] = ()) -> Roster:
    """The roster of DESIGN.md §7."""
    layer = rotation(
        windows=(
            Window(days=WEEKDAYS, start=time(18), end=time(8, 30)),
            Window(days=WEEKEND),
            Window(holidays=FR),
        ),
        name="nights-and-weekends",
    )
    return Roster("infra", PARIS, (layer,), (Level("secondary", offset=1),), overrides)


def check_segments(roster: Roster, start: datetime, end: datetime, level: str = PRIMARY) -> list[Segment]:
    """Segments tile [start, end), neighbours differ and each agrees with oncall() inside it."""
    segments = roster.segments(start, end, level)
    assert segments, "a non-empty range has at least one segment"
    assert segments[0].start == start
    assert segments[-1].end == end
    for before, after in pairwise(segments):
        assert before.end == after.start
        assert (before.person, before.source) != (after.person, after.source)
    for segment in segments:
        assert segment.start < segment.end
        assert segment.duration == segment.end - segment.start
        for instant in (segment.start, segment.start + segment.duration / 2, segment.end - MICRO):
            found = roster.oncall(instant, level)
            expected = Assignment(segment.person, segment.source) if segment.person is not None else None
            assert found == expected, f"oncall({instant}) disagrees with {segment}"
    assert roster.shifts(start, end, level) == [s for s in segments if s.person is not None]
    assert roster.gaps(start, end, level) == [s for s in segments if s.person is None]
    return segments


def local_spans(segments: list[Segment], zone: ZoneInfo) -> list[tuple[datetime, datetime, str | None]]:
    return [(to_local(s.start, zone), to_local(s.end, zone), s.person) for s in segments]


# --- weekly handoffs across daylight-saving changes ---------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "monday_before", "week_length"),
    [
        (PARIS, date(2026, 3, 23), WEEK - timedelta(hours=1)),  # spring forward Sun 29 March
        (PARIS, date(2026, 10, 19), WEEK + timedelta(hours=1)),  # fall back Sun 25 October
        (NEW_YORK, date(2026, 3, 2), WEEK - timedelta(hours=1)),  # Sun 8 March
        (NEW_YORK, date(2026, 10, 26), WEEK + timedelta(hours=1)),  # Sun 1 November
        (LORD_HOWE, date(2026, 3, 30), WEEK + timedelta(minutes=30)),  # Sun 5 April, 30 min back
        (LORD_HOWE, date(2026, 9, 28), WEEK - timedelta(minutes=30)),  # Sun 4 October, 30 min forward
        (KOLKATA, date(2026, 3, 23), WEEK),  # no daylight saving
        (KOLKATA, date(2026, 10, 19), WEEK),
    ],
)
def test_weekly_monday_0900_handoff_stays_at_0900_local_across_dst(
    zone: ZoneInfo, monday_before: date, week_length: timedelta
) -> None:
    roster = Roster("weekly", zone, (rotation(),))
    first = datetime.combine(monday_before, time(9))
    second = first + WEEK
    start, end = at(zone, 2026, 1, 1), to_instant(second + 3 * DAY, zone)
    segments = check_segments(roster, start, end)

    handoffs = [to_local(s.start, zone) for s in segments[1:]]  # the first starts at `start`, before the anchor
    assert all(h.weekday() == MON and h.time() == time(9) for h in handoffs)
    assert first in handoffs
    assert second in handoffs
    week = next(s for s in segments if to_local(s.start, zone) == first)
    assert to_local(week.end, zone) == second
    assert week.duration == week_length

    weeks = (monday_before - ANCHOR.date()).days // 7
    members = ("alice", "bob", "carol")
    assert who(roster, to_instant(first, zone) - MICRO) == members[(weeks - 1) % 3]
    assert who(roster, to_instant(first, zone)) == members[weeks % 3]
    assert who(roster, to_instant(second, zone) - MICRO) == members[weeks % 3]
    assert who(roster, to_instant(second, zone)) == members[(weeks + 1) % 3]


def test_weekly_rotation_lookup_ten_years_on_is_plain_arithmetic() -> None:
    roster = Roster("weekly", PARIS, (rotation(),))
    monday = date(2036, 3, 31)
    weeks = (monday - ANCHOR.date()).days // 7
    assert monday.weekday() == MON
    assert who(roster, paris(2036, 3, 31, 9)) == ("alice", "bob", "carol")[weeks % 3]
    assert who(roster, paris(2036, 3, 31, 8, 59)) == ("alice", "bob", "carol")[(weeks - 1) % 3]
    assert roster.layers[0].shift_index(paris(2036, 3, 31, 9), PARIS) == weeks


# --- night windows across daylight-saving changes -----------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "evening", "length"),
    [
        (PARIS, date(2026, 3, 28), timedelta(hours=13, minutes=30)),  # 14h30 - 1h
        (PARIS, date(2026, 10, 24), timedelta(hours=15, minutes=30)),  # 14h30 + 1h
        (PARIS, date(2026, 7, 11), timedelta(hours=14, minutes=30)),
        (NEW_YORK, date(2026, 3, 7), timedelta(hours=13, minutes=30)),
        (NEW_YORK, date(2026, 10, 31), timedelta(hours=15, minutes=30)),
        (LORD_HOWE, date(2026, 10, 3), timedelta(hours=14)),  # 14h30 - 30m
        (LORD_HOWE, date(2026, 4, 4), timedelta(hours=15)),  # 14h30 + 30m
        (KOLKATA, date(2026, 3, 28), timedelta(hours=14, minutes=30)),
    ],
)
def test_night_window_1800_0830_lasts_14h30_of_wall_clock_whatever_the_real_length(
    zone: ZoneInfo, evening: date, length: timedelta
) -> None:
    night = Window(start=time(18), end=time(8, 30))
    roster = Roster("nights", zone, (rotation(windows=(night,)),))
    start = to_instant(datetime.combine(evening, time(12)), zone)
    end = to_instant(datetime.combine(evening + DAY, time(12)), zone)
    segments = check_segments(roster, start, end)
    assert [s.person is not None for s in segments] == [False, True, False]
    shift = segments[1]
    assert to_local(shift.start, zone) == datetime.combine(evening, time(18))
    assert to_local(shift.end, zone) == datetime.combine(evening + DAY, time(8, 30))
    assert shift.duration == length


# --- rotations ----------------------------------------------------------------------------------------


def test_daily_shifts_rotate_in_order_at_the_handoff_time() -> None:
    roster = Roster("daily", PARIS, (rotation(shift=DAY, anchor=datetime(2026, 3, 1, 9)),))
    assert who(roster, paris(2026, 3, 1, 9)) == "alice"
    assert who(roster, paris(2026, 3, 2, 8, 59)) == "alice"
    assert who(roster, paris(2026, 3, 2, 9)) == "bob"
    assert who(roster, paris(2026, 3, 3, 9)) == "carol"
    assert who(roster, paris(2026, 3, 4, 9)) == "alice"
    segments = check_segments(roster, paris(2026, 3, 27, 12), paris(2026, 3, 31, 12))
    assert [local_spans(segments, PARIS)[i][0] for i in range(1, 4)] == [
        datetime(2026, 3, 28, 9),
        datetime(2026, 3, 29, 9),
        datetime(2026, 3, 30, 9),
    ]
    # 28 March 09:00 → 29 March 09:00 loses the hour that the clocks skip
    assert segments[1].duration == timedelta(hours=23)
    assert segments[2].duration == timedelta(hours=24)
    # day 28 after the anchor (29 March): 28 % 3 == 1
    assert segments[2].person == "bob"


def test_twelve_hour_shifts_hand_off_at_0800_and_2000_local() -> None:
    roster = Roster("halves", NEW_YORK, (rotation(("day", "night"), timedelta(hours=12), datetime(2026, 3, 1, 8)),))
    ny = NEW_YORK
    assert who(roster, at(ny, 2026, 3, 1, 8)) == "day"
    assert who(roster, at(ny, 2026, 3, 1, 19, 59)) == "day"
    assert who(roster, at(ny, 2026, 3, 1, 20)) == "night"
    assert who(roster, at(ny, 2026, 3, 2, 7, 59)) == "night"
    assert who(roster, at(ny, 2026, 3, 2, 8)) == "day"
    segments = check_segments(roster, at(ny, 2026, 3, 7, 8), at(ny, 2026, 3, 8, 20))
    assert local_spans(segments, ny) == [
        (datetime(2026, 3, 7, 8), datetime(2026, 3, 7, 20), "day"),
        (datetime(2026, 3, 7, 20), datetime(2026, 3, 8, 8), "night"),
        (datetime(2026, 3, 8, 8), datetime(2026, 3, 8, 20), "day"),
    ]
    assert [s.duration for s in segments] == [timedelta(hours=12), timedelta(hours=11), timedelta(hours=12)]


def test_nobody_is_on_call_before_the_first_handoff() -> None:
    layer = rotation(anchor=datetime(2026, 1, 5, 9))
    roster = Roster("late", PARIS, (layer,))
    first = paris(2026, 1, 5, 9)
    assert layer.shift_index(first - MICRO, PARIS) is None
    assert layer.shift_index(first - 400 * DAY, PARIS) is None
    assert layer.shift_index(first, PARIS) == 0
    assert roster.oncall(first - MICRO) is None
    assert roster.oncall(first) == Assignment("alice", "rotation")
    segments = check_segments(roster, paris(2026, 1, 1), paris(2026, 1, 20))
    assert [(s.start, s.person) for s in segments] == [
        (paris(2026, 1, 1), None),
        (first, "alice"),
        (paris(2026, 1, 12, 9), "bob"),
        (paris(2026, 1, 19, 9), "carol"),
    ]


def test_members_rotate_in_the_listed_order_and_wrap_around() -> None:
    members = ("m0", "m1", "m2", "m3", "m4")
    roster = Roster("five", KOLKATA, (rotation(members, DAY, datetime(2026, 2, 1, 10)),))
    segments = check_segments(roster, at(KOLKATA, 2026, 2, 1, 10), at(KOLKATA, 2026, 2, 13, 10))
    assert [s.person for s in segments] == [members[i % 5] for i in range(12)]
    assert all(s.duration == DAY for s in segments)


def test_a_member_listed_twice_takes_two_turns() -> None:
    roster = Roster("twice", PARIS, (rotation(("a", "a", "b"), DAY, datetime(2026, 2, 1, 9)),))
    segments = check_segments(roster, paris(2026, 2, 1, 9), paris(2026, 2, 7, 9))
    assert [(s.person, s.duration) for s in segments] == [("a", 2 * DAY), ("b", DAY)] * 2


def test_shift_index_counts_handoffs() -> None:
    layer = rotation(shift=timedelta(hours=8), anchor=datetime(2026, 3, 28, 6))
    assert layer.shift_index(paris(2026, 3, 28, 13, 59), PARIS) == 0
    assert layer.shift_index(paris(2026, 3, 28, 14), PARIS) == 1
    assert layer.shift_index(paris(2026, 3, 28, 22), PARIS) == 2
    assert layer.shift_index(paris(2026, 3, 29, 5, 59), PARIS) == 2  # 7h of real time: the skipped hour
    assert layer.shift_index(paris(2026, 3, 29, 6), PARIS) == 3
    assert layer.handoff(3, PARIS) - layer.handoff(2, PARIS) == timedelta(hours=7)


def test_a_handoff_in_the_skipped_hour_happens_at_the_change() -> None:
    layer = rotation(("a", "b"), DAY, datetime(2026, 3, 27, 2, 30))
    roster = Roster("gap", PARIS, (layer,))
    assert layer.handoff(2, PARIS) == paris(2026, 3, 29, 3, 0)
    assert to_local(layer.handoff(2, PARIS), PARIS) == datetime(2026, 3, 29, 3, 0)
    assert to_local(layer.handoff(3, PARIS), PARIS) == datetime(2026, 3, 30, 2, 30)
    assert who(roster, paris(2026, 3, 29, 1, 59)) == "b"
    assert who(roster, paris(2026, 3, 29, 3, 0)) == "a"


def test_a_handoff_in_the_repeated_hour_happens_at_its_first_occurrence() -> None:
    layer = rotation(("a", "b"), DAY, datetime(2026, 10, 23, 2, 30))
    roster = Roster("fold", PARIS, (layer,))
    handoff = layer.handoff(2, PARIS)
    assert handoff == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, not 02:30 CET
    assert who(roster, handoff - MICRO) == "b"
    assert who(roster, handoff) == "a"
    assert who(roster, handoff + timedelta(hours=1)) == "a"  # 02:30 again, same shift


def test_layer_validation() -> None:
    with pytest.raises(InvalidValueError, match="'empty' has no members"):
        Layer("empty", (), WEEK, ANCHOR)
    with pytest.raises(InvalidValueError, match="at least 1h"):
        Layer("short", ("a",), timedelta(minutes=59), ANCHOR)
    assert Layer("hourly", ("a",), timedelta(hours=1), ANCHOR).shift == timedelta(hours=1)


# --- windows ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 7, 8, 17, 59), None),  # Wednesday, daytime
        (datetime(2026, 7, 8, 18, 0), "carol"),  # Wednesday night starts
        (datetime(2026, 7, 9, 3, 0), "carol"),  # after midnight, still Wednesday's night
        (datetime(2026, 7, 9, 8, 29), "carol"),
        (datetime(2026, 7, 9, 8, 30), None),  # Thursday morning: the night is over
        (datetime(2026, 7, 10, 23, 0), "carol"),  # Friday night
        (datetime(2026, 7, 11, 8, 45), "carol"),  # Saturday, whole day
        (datetime(2026, 7, 12, 23, 59), "carol"),  # Sunday, whole day
        (datetime(2026, 7, 13, 0, 0), None),  # Monday 00:00: Sunday night is not a weekday night
        (datetime(2026, 7, 13, 8, 0), None),
        (datetime(2026, 7, 13, 9, 0), None),  # the handoff happens in a gap
        (datetime(2026, 7, 13, 18, 0), "alice"),
        (datetime(2026, 7, 14, 12, 0), "alice"),  # Bastille Day: a holiday, all day
        (datetime(2026, 7, 14, 23, 0), "alice"),
        (datetime(2026, 7, 15, 8, 29), "alice"),  # the night started on the holiday's evening
        (datetime(2026, 7, 15, 12, 0), None),
        (datetime(2026, 5, 1, 12, 0), "bob"),  # 1 May, a Friday
        (datetime(2026, 5, 4, 7, 0), None),
    ],
)
def test_nights_weekends_and_holidays(local: datetime, expected: str | None) -> None:
    roster = nights_and_weekends()
    assert who(roster, to_instant(local, PARIS)) == expected


def test_gaps_of_nights_weekends_and_holidays() -> None:
    roster = nights_and_weekends()
    segments = check_segments(roster, paris(2026, 7, 12, 12), paris(2026, 7, 15, 18))
    assert local_spans(segments, PARIS) == [
        (datetime(2026, 7, 12, 12), datetime(2026, 7, 13, 0), "carol"),
        (datetime(2026, 7, 13, 0), datetime(2026, 7, 13, 18), None),
        (datetime(2026, 7, 13, 18), datetime(2026, 7, 15, 8, 30), "alice"),
        (datetime(2026, 7, 15, 8, 30), datetime(2026, 7, 15, 18), None),
    ]
    assert [(s.start, s.end) for s in roster.gaps(paris(2026, 7, 12, 12), paris(2026, 7, 15, 18))] == [
        (paris(2026, 7, 13), paris(2026, 7, 13, 18)),
        (paris(2026, 7, 15, 8, 30), paris(2026, 7, 15, 18)),
    ]


def test_a_weekend_window_covers_whole_days_whatever_their_length() -> None:
    roster = Roster("weekends", PARIS, (rotation(windows=(Window(days=WEEKEND),)),))
    shifts = roster.shifts(paris(2026, 3, 27), paris(2026, 3, 31))
    assert [(s.start, s.end) for s in shifts] == [(paris(2026, 3, 28), paris(2026, 3, 30))]
    assert shifts[0].duration == timedelta(hours=47)
    shifts = roster.shifts(paris(2026, 10, 23), paris(2026, 10, 27))
    assert shifts[0].duration == timedelta(hours=49)


def test_a_window_without_days_is_every_day_and_without_end_runs_to_midnight() -> None:
    evenings = Window(start=time(20))
    roster = Roster("evenings", PARIS, (rotation(windows=(evenings,)),))
    segments = check_segments(roster, paris(2026, 2, 2), paris(2026, 2, 4))
    assert local_spans(segments, PARIS) == [
        (datetime(2026, 2, 2), datetime(2026, 2, 2, 20), None),
        (datetime(2026, 2, 2, 20), datetime(2026, 2, 3), "bob"),
        (datetime(2026, 2, 3), datetime(2026, 2, 3, 20), None),
        (datetime(2026, 2, 3, 20), datetime(2026, 2, 4), "bob"),
    ]


def test_a_window_whose_end_equals_its_start_lasts_a_whole_day() -> None:
    window = Window(days=frozenset({FRI}), start=time(9), end=time(9))
    assert window.wraps
    assert window.contains(datetime(2026, 2, 6, 9))
    assert window.contains(datetime(2026, 2, 7, 8, 59))
    assert not window.contains(datetime(2026, 2, 7, 9))
    assert not window.contains(datetime(2026, 2, 6, 8, 59))


def test_window_days_are_the_days_it_starts_on() -> None:
    friday_night = Window(days=frozenset({FRI}), start=time(22), end=time(6))
    assert friday_night.contains(datetime(2026, 2, 6, 22))  # Friday
    assert friday_night.contains(datetime(2026, 2, 7, 5, 59))  # Saturday morning
    assert not friday_night.contains(datetime(2026, 2, 7, 22))  # Saturday night
    assert not friday_night.contains(datetime(2026, 2, 6, 5))  # Friday morning: Thursday's night
    assert friday_night.edges(date(2026, 2, 6)) == [datetime(2026, 2, 6, 22), datetime(2026, 2, 7, 6)]
    assert friday_night.edges(date(2026, 2, 7)) == []


def test_holiday_window_uses_the_calendar() -> None:
    window = Window(holidays=FR)
    assert window.contains(datetime(2026, 12, 25, 0, 0))
    assert window.contains(datetime(2026, 12, 25, 23, 59))
    assert not window.contains(datetime(2026, 12, 26, 0, 0))
    assert window.edges(date(2026, 12, 25)) == []  # the day's midnights are the edges


def test_the_highest_active_layer_wins() -> None:
    days = rotation(("x", "y"), DAY, datetime(2026, 1, 1, 9), name="base")
    nights = rotation(("n1", "n2"), WEEK, ANCHOR, (Window(start=time(20), end=time(8)),), name="nights")
    roster = Roster("stack", PARIS, (days, nights))
    assert roster.oncall(paris(2026, 2, 2, 12)) == Assignment("x", "base")  # 32 days after 1 Jan: even
    assert roster.oncall(paris(2026, 2, 2, 21)) == Assignment("n1", "nights")  # week 4
    assert roster.oncall(paris(2026, 2, 3, 7, 59)) == Assignment("n1", "nights")
    assert roster.oncall(paris(2026, 2, 3, 8)) == Assignment("x", "base")
    assert roster.oncall(paris(2026, 2, 3, 9)) == Assignment("y", "base")
    segments = check_segments(roster, paris(2026, 2, 2, 12), paris(2026, 2, 3, 12))
    assert [(s.person, s.source) for s in segments] == [
        ("x", "base"),
        ("n1", "nights"),
        ("x", "base"),
        ("y", "base"),
    ]
    # listed the other way round, the always-active rotation hides the nights
    flipped = Roster("flipped", PARIS, (nights, days))
    assert flipped.oncall(paris(2026, 2, 2, 21)) == Assignment("x", "base")


def test_a_layer_that_has_not_started_yet_leaves_the_lower_one_in_charge() -> None:
    base = rotation(("x", "y"), DAY, datetime(2026, 1, 1, 9), name="base")
    later = rotation(("z",), WEEK, datetime(2026, 6, 1, 9), name="later")
    roster = Roster("stack", PARIS, (base, later))
    assert roster.oncall(paris(2026, 5, 31, 12)) == Assignment("x", "base")
    assert roster.oncall(paris(2026, 6, 1, 9)) == Assignment("z", "later")


def test_no_active_layer_is_a_gap() -> None:
    business = Window(days=WEEKDAYS, start=time(9), end=time(17))
    roster = Roster("office", KOLKATA, (rotation(windows=(business,)),))
    kol = KOLKATA
    gaps = roster.gaps(at(kol, 2026, 2, 6, 12), at(kol, 2026, 2, 10, 12))
    assert [(to_local(g.start, kol), to_local(g.end, kol)) for g in gaps] == [
        (datetime(2026, 2, 6, 17), datetime(2026, 2, 9, 9)),
        (datetime(2026, 2, 9, 17), datetime(2026, 2, 10, 9)),
    ]
    assert all(g.person is None and g.source is None for g in gaps)
    assert roster.oncall(at(kol, 2026, 2, 7, 12)) is None


def test_a_window_ending_in_the_repeated_hour_agrees_between_oncall_and_segments() -> None:
    # 18:00-02:30 every night. On 25 October 2026 the Paris clocks read 02:00-03:00 twice: the window
    # closes at the first 02:30 and the wall clock reads inside it again from the second 02:00 to 02:30.
    roster = Roster("late", PARIS, (rotation(("a", "b"), windows=(Window(start=time(18), end=time(2, 30)),)),))
    start, end = paris(2026, 10, 24, 12), paris(2026, 10, 25, 12)
    segments = check_segments(roster, start, end)
    utc_spans = [(s.start, s.end, s.person) for s in segments]
    assert utc_spans == [
        (start, datetime(2026, 10, 24, 16, tzinfo=UTC), None),
        (datetime(2026, 10, 24, 16, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "b"),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC), None),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "b"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), end, None),
    ]


def test_a_window_opening_in_the_skipped_hour_opens_at_the_change() -> None:
    roster = Roster("early", PARIS, (rotation(windows=(Window(start=time(2, 30), end=time(6)),)),))
    shifts = check_segments(roster, paris(2026, 3, 28, 12), paris(2026, 3, 29, 12))
    assert local_spans([s for s in shifts if s.person], PARIS) == [
        (datetime(2026, 3, 29, 3), datetime(2026, 3, 29, 6), "carol"),
    ]


# --- levels -------------------------------------------------------------------------------------------


def test_secondary_is_the_next_member_of_the_rotation() -> None:
    roster = nights_and_weekends()
    saturday = paris(2026, 1, 10, 12)  # week 0: alice
    assert roster.oncall(saturday) == Assignment("alice", "nights-and-weekends")
    assert roster.oncall(saturday, "secondary") == Assignment("bob", "nights-and-weekends")
    assert who(roster, saturday + WEEK, "secondary") == "carol"
    assert who(roster, saturday + 2 * WEEK, "secondary") == "alice"
    assert roster.oncall(paris(2026, 1, 14, 12), "secondary") is None  # windows apply to every level
    check_segments(roster, paris(2026, 1, 1), paris(2026, 2, 1), "secondary")


@pytest.mark.parametrize(
    ("members", "offset", "expected"),
    [
        (("a",), 1, None),
        (("a", "b"), 2, None),
        (("a", "b"), 3, "b"),
        (("a", "b", "c"), 3, None),
        (("a", "b", "c"), 5, "c"),
        (("a", "b", "c"), 0, "a"),
    ],
)
def test_an_offset_that_comes_back_to_the_same_person_is_nobody(
    members: tuple[str, ...], offset: int, expected: str | None
) -> None:
    roster = Roster("r", PARIS, (rotation(members),), (Level("backup", offset=offset),))
    assert who(roster, paris(2026, 1, 5, 9), "backup") == expected
    assert Layer("l", members, WEEK, ANCHOR).member(0, offset) == expected


def test_a_layer_without_a_secondary_leaves_it_to_the_layer_below() -> None:
    base = rotation(("x", "y"), DAY, datetime(2026, 1, 1, 9), name="base")
    solo = rotation(("solo",), WEEK, ANCHOR, (Window(start=time(20), end=time(8)),), name="solo")
    roster = Roster("r", PARIS, (base, solo), (Level("secondary", offset=1),))
    night = paris(2026, 2, 2, 21)
    assert roster.oncall(night) == Assignment("solo", "solo")
    assert roster.oncall(night, "secondary") == Assignment("y", "base")


def test_a_level_with_layers_of_its_own() -> None:
    backup = rotation(("m1", "m2"), WEEK, datetime(2026, 1, 7, 12), name="managers")
    roster = Roster("r", PARIS, (rotation(),), (Level("secondary", layers=(backup,)),))
    assert roster.oncall(paris(2026, 1, 7, 11, 59), "secondary") is None
    assert roster.oncall(paris(2026, 1, 7, 12), "secondary") == Assignment("m1", "managers")
    assert roster.oncall(paris(2026, 1, 14, 12), "secondary") == Assignment("m2", "managers")
    assert roster.oncall(paris(2026, 1, 14, 12)) == Assignment("bob", "rotation")
    segments = check_segments(roster, paris(2026, 1, 1), paris(2026, 1, 22), "secondary")
    assert [(s.start, s.person) for s in segments] == [
        (paris(2026, 1, 1), None),
        (paris(2026, 1, 7, 12), "m1"),
        (paris(2026, 1, 14, 12), "m2"),
        (paris(2026, 1, 21, 12), "m1"),
    ]


def test_an_unknown_level_raises() -> None:
    roster = nights_and_weekends()
    instant = paris(2026, 1, 10, 12)
    for call in (
        lambda: roster.oncall(instant, "tertiary"),
        lambda: roster.segments(instant, instant + DAY, "tertiary"),
        lambda: roster.shifts(instant, instant + DAY, "tertiary"),
        lambda: roster.gaps(instant, instant + DAY, "tertiary"),
    ):
        with pytest.raises(UnknownLevelError, match="'tertiary'") as caught:
            call()
        assert "primary, secondary" in str(caught.value)
    assert isinstance(caught.value, LookupError)


def test_an_override_for_an_unknown_level_is_refused() -> None:
    override = Override("dave", paris(2026, 1, 10), paris(2026, 1, 11), level="tertiary")
    with pytest.raises(UnknownLevelError, match="'tertiary'"):
        nights_and_weekends((override,))
    with pytest.raises(UnknownLevelError, match="'tertiary'"):
        nights_and_weekends().with_overrides([override])


def test_level_names() -> None:
    assert nights_and_weekends().level_names == ("primary", "secondary")
    assert Roster("r", PARIS, (rotation(),)).level_names == ("primary",)


# --- overrides ----------------------------------------------------------------------------------------


def test_an_override_beats_every_layer() -> None:
    christmas = Override("dave", paris(2026, 12, 24, 18), paris(2026, 12, 26, 9), ref="overrides[0]")
    roster = nights_and_weekends((christmas,))
    assert roster.oncall(paris(2026, 12, 24, 17, 59)) is None  # Thursday daytime
    assert roster.oncall(paris(2026, 12, 24, 18)) == Assignment("dave", OVERRIDE_SOURCE)
    assert roster.oncall(paris(2026, 12, 25, 12)) == Assignment("dave", OVERRIDE_SOURCE)
    assert roster.oncall(paris(2026, 12, 26, 9) - MICRO) == Assignment("dave", OVERRIDE_SOURCE)
    assert roster.oncall(paris(2026, 12, 26, 9)) == Assignment("carol", "nights-and-weekends")  # week 50
    # it replaces the primary only: the secondary keeps following the rotation
    assert roster.oncall(paris(2026, 12, 25, 12), "secondary") == Assignment("alice", "nights-and-weekends")
    segments = check_segments(roster, paris(2026, 12, 24, 12), paris(2026, 12, 27))
    assert local_spans(segments, PARIS) == [
        (datetime(2026, 12, 24, 12), datetime(2026, 12, 24, 18), None),
        (datetime(2026, 12, 24, 18), datetime(2026, 12, 26, 9), "dave"),
        (datetime(2026, 12, 26, 9), datetime(2026, 12, 27), "carol"),
    ]


def test_an_override_fills_a_gap() -> None:
    roster = nights_and_weekends((Override("dave", paris(2026, 7, 13, 10), paris(2026, 7, 13, 12)),))
    gaps = roster.gaps(paris(2026, 7, 13), paris(2026, 7, 13, 18))
    assert [(s.start, s.end) for s in gaps] == [
        (paris(2026, 7, 13), paris(2026, 7, 13, 10)),
        (paris(2026, 7, 13, 12), paris(2026, 7, 13, 18)),
    ]


def test_the_override_defined_last_wins_where_they_overlap() -> None:
    morning = Override("m", paris(2026, 7, 13, 10), paris(2026, 7, 13, 14))
    afternoon = Override("n", paris(2026, 7, 13, 12), paris(2026, 7, 13, 16))
    roster = nights_and_weekends((morning, afternoon))
    assert [(s.start, s.person) for s in check_segments(roster, paris(2026, 7, 13, 9), paris(2026, 7, 13, 17))] == [
        (paris(2026, 7, 13, 9), None),
        (paris(2026, 7, 13, 10), "m"),
        (paris(2026, 7, 13, 12), "n"),
        (paris(2026, 7, 13, 16), None),
    ]
    reversed_roster = nights_and_weekends((afternoon, morning))
    segments = check_segments(reversed_roster, paris(2026, 7, 13, 9), paris(2026, 7, 13, 17))
    assert [(s.start, s.person) for s in segments] == [
        (paris(2026, 7, 13, 9), None),
        (paris(2026, 7, 13, 10), "m"),
        (paris(2026, 7, 13, 14), "n"),
        (paris(2026, 7, 13, 16), None),
    ]


def test_a_short_override_inside_a_long_one() -> None:
    week = Override("long", paris(2026, 7, 6), paris(2026, 7, 13))
    hour = Override("short", paris(2026, 7, 8, 12), paris(2026, 7, 8, 13))
    inner_last = nights_and_weekends((week, hour))
    assert who(inner_last, paris(2026, 7, 8, 12, 30)) == "short"
    assert who(inner_last, paris(2026, 7, 8, 13)) == "long"
    assert who(inner_last, paris(2026, 7, 12, 23)) == "long"
    outer_last = nights_and_weekends((hour, week))
    assert who(outer_last, paris(2026, 7, 8, 12, 30)) == "long"
    check_segments(inner_last, paris(2026, 7, 5), paris(2026, 7, 14))
    check_segments(outer_last, paris(2026, 7, 5), paris(2026, 7, 14))


def test_with_overrides_adds_after_the_rosters_own() -> None:
    own = Override("own", paris(2026, 7, 13, 10), paris(2026, 7, 13, 14))
    extra = Override("extra", paris(2026, 7, 13, 12), paris(2026, 7, 13, 16))
    roster = nights_and_weekends((own,))
    combined = roster.with_overrides([extra])
    assert combined.overrides == (own, extra)
    assert roster.overrides == (own,)  # the original is untouched
    assert who(roster, paris(2026, 7, 13, 15)) is None
    assert who(combined, paris(2026, 7, 13, 13)) == "extra"
    assert who(combined, paris(2026, 7, 13, 11)) == "own"
    assert who(combined, paris(2026, 7, 13, 15)) == "extra"
    check_segments(combined, paris(2026, 7, 13), paris(2026, 7, 14))


def test_an_override_for_a_level_replaces_that_level_only() -> None:
    backup = Override("erin", paris(2026, 1, 10), paris(2026, 1, 11), level="secondary")
    roster = nights_and_weekends((backup,))
    assert roster.oncall(paris(2026, 1, 10, 12), "secondary") == Assignment("erin", OVERRIDE_SOURCE)
    assert roster.oncall(paris(2026, 1, 10, 12)) == Assignment("alice", "nights-and-weekends")
    assert [s.person for s in roster.segments(paris(2026, 1, 10), paris(2026, 1, 12))] == ["alice"]
    secondary = check_segments(roster, paris(2026, 1, 10), paris(2026, 1, 12), "secondary")
    assert [s.person for s in secondary] == ["erin", "bob"]


def test_override_bounds_in_any_zone_are_instants() -> None:
    tokyo = timezone(timedelta(hours=9))
    override = Override("dave", datetime(2026, 7, 13, 17, tzinfo=tokyo), datetime(2026, 7, 13, 19, tzinfo=tokyo))
    roster = nights_and_weekends((override,))
    assert who(roster, paris(2026, 7, 13, 10)) == "dave"  # 17:00 in Tokyo
    assert who(roster, paris(2026, 7, 13, 12)) is None
    check_segments(roster, paris(2026, 7, 13), paris(2026, 7, 14))


def test_override_validation() -> None:
    with pytest.raises(InvalidValueError, match="aware"):
        Override("dave", datetime(2026, 1, 1), paris(2026, 1, 2))
    with pytest.raises(InvalidValueError, match="aware"):
        Override("dave", paris(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(InvalidValueError, match="'dave' ends before it starts"):
        Override("dave", paris(2026, 1, 2), paris(2026, 1, 1))
    with pytest.raises(InvalidValueError, match="ends before it starts"):
        Override("dave", paris(2026, 1, 1), paris(2026, 1, 1))


# --- segments, shifts and gaps ------------------------------------------------------------------------


def test_segments_of_a_busy_month_tile_it() -> None:
    overrides = (
        Override("dave", paris(2026, 12, 24, 18), paris(2026, 12, 26, 9)),
        Override("erin", paris(2026, 12, 1, 3), paris(2026, 12, 1, 4)),
        Override("frank", paris(2026, 12, 31, 20), paris(2027, 1, 1, 2)),
    )
    roster = nights_and_weekends(overrides)
    start, end = paris(2026, 11, 30), paris(2027, 1, 4)
    segments = check_segments(roster, start, end)
    assert sum((s.duration for s in segments), timedelta()) == end - start
    check_segments(roster, start, end, "secondary")


def test_segments_of_an_empty_or_reversed_range_are_empty() -> None:
    roster = nights_and_weekends()
    instant = paris(2026, 7, 13)
    assert roster.segments(instant, instant) == []
    assert roster.segments(instant, instant - DAY) == []
    assert roster.shifts(instant, instant) == []
    assert roster.gaps(instant, instant) == []


def test_segments_of_a_range_starting_inside_a_shift_start_at_the_range() -> None:
    roster = Roster("weekly", PARIS, (rotation(),))
    start, end = paris(2026, 1, 7, 13, 17), paris(2026, 1, 8, 1, 2)
    assert roster.segments(start, end) == [Segment(start, end, "alice", "rotation")]


def test_segments_accept_bounds_in_any_zone() -> None:
    roster = nights_and_weekends()
    start = datetime(2026, 7, 10, 12, tzinfo=NEW_YORK)
    end = datetime(2026, 7, 14, 12, tzinfo=KOLKATA)
    segments = check_segments(roster, start, end)
    assert segments[0].start == start
    assert segments[-1].end == end


def test_utc_normalises_and_refuses_naive_datetimes() -> None:
    assert utc(datetime(2026, 7, 1, 9, tzinfo=PARIS)) == datetime(2026, 7, 1, 7, tzinfo=UTC)
    assert utc(datetime(2026, 7, 1, 9, tzinfo=PARIS)).tzinfo is UTC
    with pytest.raises(InvalidValueError, match="no time zone"):
        utc(datetime(2026, 7, 1, 9))


def test_an_offset_level_never_backs_up_an_overriding_primary_with_the_same_person() -> None:
    # Week 1 is alice's, so bob would be her secondary; bob takes primary by override for two days, so
    # carol, the member after him, backs him up for exactly that span, and bob is secondary again after.
    start, end = paris(2026, 1, 7, 18), paris(2026, 1, 9, 18)
    roster = Roster(
        "r",
        PARIS,
        (rotation(("alice", "bob", "carol")),),
        (Level("secondary", offset=1),),
        (Override("bob", start, end),),
    )
    assert who(roster, paris(2026, 1, 8, 12)) == "bob"
    assert who(roster, paris(2026, 1, 8, 12), "secondary") == "carol"
    assert who(roster, paris(2026, 1, 7, 17), "secondary") == "bob"
    assert who(roster, end, "secondary") == "bob"
    segments = check_segments(roster, paris(2026, 1, 6), paris(2026, 1, 11), "secondary")
    assert [(s.person, s.start, s.end) for s in segments] == [
        ("bob", paris(2026, 1, 6), start),
        ("carol", start, end),
        ("bob", end, paris(2026, 1, 11)),
    ]


def test_a_backup_for_an_overriding_primary_comes_from_the_rest_of_the_rotation() -> None:
    roster = Roster(
        "r",
        PARIS,
        (rotation(("alice", "bob")),),
        (Level("secondary", offset=1),),
        (Override("bob", paris(2026, 1, 7), paris(2026, 1, 8)),),
    )
    # bob is primary by override and would be secondary too; alice is the only other member.
    assert who(roster, paris(2026, 1, 7, 12), "secondary") == "alice"
    lonely = Roster(
        "r",
        PARIS,
        (rotation(("alice",)),),
        (Level("secondary", offset=1),),
        (Override("bob", paris(2026, 1, 7), paris(2026, 1, 8)),),
    )
    # One member: an offset that wraps round to the same place is nobody, override or not.
    assert who(lonely, paris(2026, 1, 6, 12), "secondary") is None
    assert who(lonely, paris(2026, 1, 7, 12), "secondary") is None


# --- one person on two levels at once ---------------------------------------------------------------------


def test_a_level_with_its_own_layers_can_put_the_primary_on_it_too() -> None:
    # Primary changes daily (alice, bob); the secondary is bob all week, every other day the primary too.
    roster = Roster(
        "r",
        PARIS,
        (rotation(("alice", "bob"), shift=DAY),),
        (Level("secondary", layers=(rotation(("bob",), name="backup"),)),),
    )
    [found] = roster.double_duty(paris(2026, 1, 5, 9), paris(2026, 1, 10, 9))
    assert (found.person, found.first, found.second) == ("bob", PRIMARY, "secondary")
    assert found.periods == ((paris(2026, 1, 6, 9), paris(2026, 1, 7, 9)), (paris(2026, 1, 8, 9), paris(2026, 1, 9, 9)))


def test_double_duty_across_a_change_of_layer_is_one_period() -> None:
    # bob is primary by two layers in a row (day, then night): one unbroken period on both levels.
    day = rotation(("bob",), shift=DAY, windows=(Window(start=time(8), end=time(20)),), name="day")
    night = rotation(("bob",), shift=DAY, windows=(Window(start=time(20), end=time(8)),), name="night")
    roster = Roster("r", PARIS, (day, night), (Level("secondary", layers=(rotation(("bob",)),)),))
    [found] = roster.double_duty(paris(2026, 1, 5, 9), paris(2026, 1, 6, 9))
    assert found.periods == ((paris(2026, 1, 5, 9), paris(2026, 1, 6, 9)),)


def test_an_offset_level_never_doubles_the_primary_but_an_override_can() -> None:
    roster = Roster("r", PARIS, (rotation(("alice", "bob"), shift=DAY),), (Level("secondary", offset=1),))
    assert roster.double_duty(paris(2026, 1, 5, 9), paris(2026, 1, 19, 9)) == []
    # An override naming today's primary at the secondary level: the override wins there.
    override = Override("alice", paris(2026, 1, 5, 12), paris(2026, 1, 5, 13), level="secondary")
    [found] = roster.with_overrides([override]).double_duty(paris(2026, 1, 5, 9), paris(2026, 1, 19, 9))
    assert (found.person, found.periods) == ("alice", ((paris(2026, 1, 5, 12), paris(2026, 1, 5, 13)),))


def test_a_gap_is_no_double_duty() -> None:
    office = Window(days=WEEKDAYS)
    roster = Roster(
        "r",
        PARIS,
        (rotation(("alice",), windows=(office,)),),
        (Level("secondary", layers=(rotation(("alice",), windows=(Window(days=WEEKEND),)),)),),
    )
    assert roster.double_duty(paris(2026, 1, 5), paris(2026, 1, 19)) == []
