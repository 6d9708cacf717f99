"""Rate limits as configured, and the sliding-window arithmetic the dispatcher plans with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memoguard.domain.errors import InvalidValueError
from memoguard.domain.rate import Rate, allowance, parse_rate

T0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("text", "count", "period"),
    [
        ("20/s", 20, S),
        ("400/min", 400, 60 * S),
        ("2500/day", 2500, 86400 * S),
        ("1/h", 1, 3600 * S),
        ("100/250ms", 100, timedelta(milliseconds=250)),
        (" 10 / 5s ", 10, 5 * S),
        ("3/2MIN", 3, 120 * S),
    ],
)
def test_rates_parse(text: str, count: int, period: timedelta) -> None:
    assert parse_rate(text) == Rate(count, period)


@pytest.mark.parametrize("text", ["", "20", "20/", "/s", "20/fortnight", "twenty/s", "20/s/s", "-1/s"])
def test_a_malformed_rate_says_what_is_expected(text: str) -> None:
    with pytest.raises(InvalidValueError, match=r"expected COUNT/PERIOD such as 20/s"):
        parse_rate(text)


@pytest.mark.parametrize("text", ["0/s", "5/0s"])
def test_a_rate_of_nothing_is_refused(text: str) -> None:
    with pytest.raises(InvalidValueError, match="at least 1"):
        parse_rate(text)


@pytest.mark.parametrize(("text", "shown"), [("20/s", "20/s"), ("400/min", "400/min"), ("100/250ms", "100/250ms")])
def test_a_rate_reads_back_as_written(text: str, shown: str) -> None:
    assert str(parse_rate(text)) == shown


def test_no_rate_means_no_limit() -> None:
    assert allowance((), [T0] * 1000, T0).available >= 1000


def test_the_window_is_sliding_and_closed() -> None:
    rate = Rate(2, S)
    sends = [T0, T0 + 0.5 * S]
    full = allowance((rate,), sends, T0 + 0.9 * S)
    assert full.available == 0
    # The first send leaves the window strictly after one period: at T0 + 1 s it still counts.
    assert full.next_at == T0 + S + timedelta(microseconds=1)
    assert allowance((rate,), sends, T0 + S).available == 0
    assert allowance((rate,), sends, full.next_at).available == 1


def test_every_rate_holds_at_once() -> None:
    per_second, per_minute = Rate(5, S), Rate(6, 60 * S)
    sends = [T0 + i * S for i in range(6)]  # one a second: the per-minute limit is the one that bites
    later = allowance((per_second, per_minute), sends, T0 + 10 * S)
    assert later.available == 0
    assert later.next_at == T0 + 60 * S + timedelta(microseconds=1)
    assert allowance((per_second,), sends, T0 + 10 * S).available == 5
