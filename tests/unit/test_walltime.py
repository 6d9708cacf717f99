"""Wall-clock parsing and the mapping between local wall time and instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memoguard.domain.errors import DomainError, InvalidValueError
from memoguard.domain.walltime import (
    WEEKDAYS,
    midnight,
    parse_handoff,
    parse_local_datetime,
    parse_time_of_day,
    parse_weekday,
    to_instant,
    to_local,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")
APIA = ZoneInfo("Pacific/Apia")
SANTIAGO = ZoneInfo("America/Santiago")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- weekdays -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon", 0),
        ("tue", 1),
        ("wed", 2),
        ("thu", 3),
        ("fri", 4),
        ("sat", 5),
        ("sun", 6),
        ("Monday", 0),
        ("SUNDAY", 6),
        ("Wednesday", 2),
        ("  fri  ", 4),
        ("Mon", 0),
        ("lun", 0),
        ("mar", 1),
        ("mer", 2),
        ("jeu", 3),
        ("ven", 4),
        ("sam", 5),
        ("dim", 6),
        ("DIM", 6),
    ],
)
def test_parse_weekday_accepts_english_short_long_and_french(text: str, expected: int) -> None:
    assert parse_weekday(text) == expected


@pytest.mark.parametrize("text", ["funday", "", "mo", "m", "lundi", "monday,", "1", "mon tue"])
def test_parse_weekday_rejects_anything_else_naming_the_input(text: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        parse_weekday(text)
    assert repr(text) in str(caught.value)
    assert "mon" in str(caught.value)  # says what is expected


def test_weekday_errors_are_value_and_domain_errors() -> None:
    with pytest.raises(ValueError, match="funday"):
        parse_weekday("funday")
    with pytest.raises(DomainError):
        parse_weekday("funday")


def test_weekdays_are_in_python_order() -> None:
    assert [parse_weekday(name) for name in WEEKDAYS] == list(range(7))
    assert date(2026, 1, 5).weekday() == parse_weekday("mon")


# --- times of day -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9, 0)),
        ("9:05", time(9, 5)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        ("18:30", time(18, 30)),
        (" 08:30 ", time(8, 30)),
        ("0:00", time(0, 0)),
    ],
)
def test_parse_time_of_day(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize(
    "text", ["24:00", "9h", "09:60", "0900", "09:00:00", "", "-1:00", "9", "09:0", "25:00", "ab:cd", "09 :00"]
)
def test_parse_time_of_day_rejects_malformed_times(text: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        parse_time_of_day(text)
    assert repr(text) in str(caught.value)
    assert "HH:MM" in str(caught.value)


@given(st.integers(0, 23), st.integers(0, 59))
def test_parse_time_of_day_round_trips_isoformat(hour: int, minute: int) -> None:
    value = time(hour, minute)
    assert parse_time_of_day(value.strftime("%H:%M")) == value
    assert parse_time_of_day(f"{hour}:{minute:02d}") == value


# --- handoffs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", (None, time(9))),
        ("mon 09:00", (0, time(9))),
        ("Friday 18:30", (4, time(18, 30))),
        ("dim 07:15", (6, time(7, 15))),
        ("  sun   23:59 ", (6, time(23, 59))),
    ],
)
def test_parse_handoff(text: str, expected: tuple[int | None, time]) -> None:
    assert parse_handoff(text) == expected


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("", "handoff"),
        ("mon tue 09:00", "handoff"),
        ("xyz 09:00", "weekday"),
        ("mon 25:00", "time of day"),
        ("mon", "time of day"),
        ("09:00 mon", "weekday"),
    ],
)
def test_parse_handoff_rejects_malformed_handoffs(text: str, mentions: str) -> None:
    with pytest.raises(InvalidValueError, match=mentions):
        parse_handoff(text)


# --- local time to instant ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        # ordinary times, winter and summer
        (datetime(2026, 1, 15, 9), PARIS, utc(2026, 1, 15, 8)),
        (datetime(2026, 7, 15, 9), PARIS, utc(2026, 7, 15, 7)),
        (datetime(2026, 7, 15, 9), KOLKATA, utc(2026, 7, 15, 3, 30)),
        (datetime(2026, 7, 15, 9), UTC, utc(2026, 7, 15, 9)),
        (datetime(2026, 7, 15, 9), timezone(timedelta(hours=-3)), utc(2026, 7, 15, 12)),
        # Paris spring forward 2026-03-29 02:00 -> 03:00: the skipped hour is the instant of the change
        (datetime(2026, 3, 29, 1, 59), PARIS, utc(2026, 3, 29, 0, 59)),
        (datetime(2026, 3, 29, 2, 0), PARIS, utc(2026, 3, 29, 1)),
        (datetime(2026, 3, 29, 2, 30), PARIS, utc(2026, 3, 29, 1)),
        (datetime(2026, 3, 29, 2, 59, 59, 999999), PARIS, utc(2026, 3, 29, 1)),
        (datetime(2026, 3, 29, 3, 0), PARIS, utc(2026, 3, 29, 1)),
        (datetime(2026, 3, 29, 3, 1), PARIS, utc(2026, 3, 29, 1, 1)),
        # Paris fall back 2026-10-25 03:00 -> 02:00: the repeated hour is its first occurrence
        (datetime(2026, 10, 25, 1, 59), PARIS, utc(2026, 10, 24, 23, 59)),
        (datetime(2026, 10, 25, 2, 0), PARIS, utc(2026, 10, 25, 0)),
        (datetime(2026, 10, 25, 2, 30), PARIS, utc(2026, 10, 25, 0, 30)),
        (datetime(2026, 10, 25, 3, 0), PARIS, utc(2026, 10, 25, 2)),
        # New York: 2026-03-08 02:00 -> 03:00 and 2026-11-01 02:00 -> 01:00
        (datetime(2026, 3, 8, 2, 30), NEW_YORK, utc(2026, 3, 8, 7)),
        (datetime(2026, 11, 1, 1, 30), NEW_YORK, utc(2026, 11, 1, 5, 30)),
        # Lord Howe moves by 30 minutes: 2026-10-04 02:00 -> 02:30, 2026-04-05 02:00 -> 01:30
        (datetime(2026, 10, 4, 2, 15), LORD_HOWE, utc(2026, 10, 3, 15, 30)),
        (datetime(2026, 10, 4, 2, 30), LORD_HOWE, utc(2026, 10, 3, 15, 30)),
        (datetime(2026, 4, 5, 1, 45), LORD_HOWE, utc(2026, 4, 4, 14, 45)),
        (datetime(2026, 4, 5, 2, 0), LORD_HOWE, utc(2026, 4, 4, 15, 30)),
        # Santiago changes at midnight: 2026-09-06 00:00 does not exist, 2026-04-04 23:30 happens twice
        (datetime(2026, 9, 6, 0, 0), SANTIAGO, utc(2026, 9, 6, 4)),
        (datetime(2026, 9, 6, 0, 30), SANTIAGO, utc(2026, 9, 6, 4)),
        (datetime(2026, 4, 4, 23, 30), SANTIAGO, utc(2026, 4, 5, 2, 30)),
        (datetime(2026, 4, 5, 0, 0), SANTIAGO, utc(2026, 4, 5, 4)),
        # Samoa skipped the whole of 2011-12-30
        (datetime(2011, 12, 30, 12), APIA, utc(2011, 12, 30, 10)),
        (datetime(2011, 12, 31, 0), APIA, utc(2011, 12, 30, 10)),
        (datetime(2011, 12, 29, 23, 59), APIA, utc(2011, 12, 30, 9, 59)),
    ],
)
def test_to_instant(local: datetime, zone: ZoneInfo, expected: datetime) -> None:
    instant = to_instant(local, zone)
    assert instant == expected
    assert instant.tzinfo is UTC
    assert instant.microsecond == expected.microsecond


def test_to_instant_in_a_gap_reads_as_the_first_local_time_after_the_change() -> None:
    instant = to_instant(datetime(2026, 3, 29, 2, 30), PARIS)
    assert to_local(instant, PARIS) == datetime(2026, 3, 29, 3, 0)
    assert to_local(instant - timedelta(seconds=1), PARIS) == datetime(2026, 3, 29, 1, 59, 59)


def test_to_instant_in_a_repeated_hour_is_the_earlier_of_the_two() -> None:
    local = datetime(2026, 10, 25, 2, 30)
    first = to_instant(local, PARIS)
    second = local.replace(tzinfo=PARIS, fold=1).astimezone(UTC)
    assert second - first == timedelta(hours=1)
    assert to_local(first, PARIS) == to_local(second, PARIS) == local


def test_to_local_is_naive_wall_time() -> None:
    assert to_local(utc(2026, 7, 1, 7), PARIS) == datetime(2026, 7, 1, 9)
    assert to_local(utc(2026, 7, 1, 7), PARIS).tzinfo is None
    assert to_local(utc(2026, 10, 25, 1, 30), PARIS) == datetime(2026, 10, 25, 2, 30)


def test_midnight() -> None:
    assert midnight(date(2026, 3, 29)) == datetime(2026, 3, 29, 0, 0)
    assert midnight(date(2026, 3, 29)).tzinfo is None


ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Europe/Dublin",
    "Asia/Kolkata",
    "Africa/Casablanca",
]
local_times = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2035, 12, 31))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), local_times)
def test_to_instant_is_exact_for_times_that_exist_and_the_change_otherwise(name: str, local: datetime) -> None:
    zone = ZoneInfo(name)
    instant = to_instant(local, zone)
    back = to_local(instant, zone)
    if back != local:
        # a skipped time: the instant is the change, the first one whose wall time is later
        assert back > local
        assert to_local(instant - timedelta(seconds=1), zone) < local
        assert instant.microsecond == 0
    else:
        # an existing time: nothing earlier reads the same wall time
        earlier = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
        assert earlier >= instant


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), local_times, st.timedeltas(timedelta(0), timedelta(hours=30)))
def test_to_instant_never_goes_backwards(name: str, local: datetime, step: timedelta) -> None:
    zone = ZoneInfo(name)
    assert to_instant(local, zone) <= to_instant(local + step, zone)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
)
def test_an_instant_maps_back_to_itself_unless_it_is_the_second_reading_of_a_repeated_time(
    name: str, instant: datetime
) -> None:
    zone = ZoneInfo(name)
    local = to_local(instant, zone)
    if instant.astimezone(zone).fold == 0:
        assert to_instant(local, zone) == instant
    else:
        assert to_instant(local, zone) < instant


# --- local date and time in configuration -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-01 09:00", utc(2026, 7, 1, 7)),
        ("2026-12-24 18:00", utc(2026, 12, 24, 17)),
        ("2026-03-29 02:30", utc(2026, 3, 29, 1)),  # in the gap: the change
        ("2026-10-25 02:30", utc(2026, 10, 25, 0, 30)),  # repeated: the first
        ("2026-07-01T09:00", utc(2026, 7, 1, 7)),
        ("2026-07-01T09:00:00+05:30", utc(2026, 7, 1, 3, 30)),
        ("2026-07-01T09:00:00Z", utc(2026, 7, 1, 9)),
        ("2026-07-01 09:00-04:00", utc(2026, 7, 1, 13)),
        ("  2026-07-01 09:00  ", utc(2026, 7, 1, 7)),
    ],
)
def test_parse_local_datetime(text: str, expected: datetime) -> None:
    parsed = parse_local_datetime(text, PARIS)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01 09:00", "2026-07-01 25:00", "", "01/07/2026 09:00"])
def test_parse_local_datetime_rejects_malformed_text_naming_it(text: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        parse_local_datetime(text, PARIS)
    assert repr(text) in str(caught.value)
    assert "YYYY-MM-DD HH:MM" in str(caught.value)
