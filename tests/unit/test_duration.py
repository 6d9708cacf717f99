"""Durations as configuration writes them: parsing, formatting and the round trip between the two."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memoguard.domain.duration import format_duration, parse_duration
from memoguard.domain.errors import InvalidValueError

UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
UNITS |= {"m": timedelta(minutes=1), "s": timedelta(seconds=1)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("90m", timedelta(minutes=90)),
        ("1W2D", timedelta(days=9)),
        (" 5m ", timedelta(minutes=5)),
        ("0h5m", timedelta(minutes=5)),
        ("1w1d1h1m1s", timedelta(weeks=1, days=1, hours=1, minutes=1, seconds=1)),
        ("30m1h", timedelta(hours=1, minutes=30)),  # order is not enforced: parts add up
        ("5m5m", timedelta(minutes=10)),
        ("007s", timedelta(seconds=7)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", " ", "5", "m", "5 m", "1h 30m", "-5m", "+5m", "5x", "1.5h", "h5", "5mm", "5m,", "1y", "PT5M"]
)
def test_parse_duration_rejects_malformed_text_naming_it(text: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert repr(text) in message
    assert "30s, 5m" in message  # shows what is expected


@pytest.mark.parametrize("text", ["0s", "0m", "0h0m", "00w"])
def test_parse_duration_rejects_zero(text: str) -> None:
    with pytest.raises(InvalidValueError, match="longer than zero") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("text", ["10000000000w", "999999999999999999999s"])
def test_parse_duration_rejects_amounts_too_large_for_a_timedelta(text: str) -> None:
    with pytest.raises(InvalidValueError, match="too long") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=2), "2d"),
        (timedelta(days=9), "1w2d"),
        (timedelta(weeks=3), "3w"),
        (timedelta(weeks=1, days=1, hours=1, minutes=1, seconds=1), "1w1d1h1m1s"),
        (timedelta(hours=-1), "-1h"),
        (timedelta(minutes=-90), "-1h30m"),
        (timedelta(milliseconds=1500), "1s"),  # below a second is dropped
    ],
)
def test_format_duration(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


seconds = st.integers(min_value=1, max_value=10**9)


@given(seconds)
def test_format_then_parse_is_the_identity(total: int) -> None:
    value = timedelta(seconds=total)
    assert parse_duration(format_duration(value)) == value


@given(seconds)
def test_format_is_canonical_largest_units_first_each_once(total: int) -> None:
    text = format_duration(timedelta(seconds=total))
    units = [c for c in text if c.isalpha()]
    assert units == sorted(units, key="wdhms".index)
    assert len(units) == len(set(units))
    assert format_duration(parse_duration(text)) == text


parts = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from("wdhmsWDHMS")), min_size=1, max_size=6)


@given(parts)
def test_parse_adds_up_the_parts_and_formats_back_to_the_same_length(pieces: list[tuple[int, str]]) -> None:
    text = "".join(f"{amount}{unit}" for amount, unit in pieces)
    expected = sum((amount * UNITS[unit.lower()] for amount, unit in pieces), timedelta())
    if expected == timedelta(0):
        with pytest.raises(InvalidValueError):
            parse_duration(text)
        return
    value = parse_duration(text)
    assert value == expected
    assert parse_duration(format_duration(value)) == value


@given(st.text(alphabet="0123456789wdhms .-+:", max_size=16))
def test_parse_either_returns_a_positive_duration_or_raises_invalid_value(text: str) -> None:
    try:
        value = parse_duration(text)
    except InvalidValueError:
        return
    assert value > timedelta(0)
