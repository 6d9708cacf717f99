"""How an HTTP answer becomes a DeliveryError, and how Retry-After is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from memoguard.adapters.response import DEFAULT_WAIT, MAX_WAIT, check, retry_after, transport_error
from memoguard.services.provider import DeliveryError

NOW = datetime(2026, 11, 17, 10, 0, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", timedelta()),
        ("120", timedelta(seconds=120)),
        (" 45 ", timedelta(seconds=45)),
        ("86400", MAX_WAIT),
        ("86401", MAX_WAIT),
        ("99999999999", MAX_WAIT),
    ],
)
def test_seconds(value: str, expected: timedelta) -> None:
    assert retry_after(value, NOW) == expected


def test_an_http_date_is_the_time_left_until_it() -> None:
    assert retry_after(format_datetime(NOW + timedelta(seconds=90), usegmt=True), NOW) == timedelta(seconds=90)
    assert retry_after("Tue, 17 Nov 2026 10:02:15 GMT", NOW) == timedelta(minutes=2)
    assert retry_after("Tue, 17 Nov 2026 11:00:15 +0100", NOW) == timedelta()


def test_a_past_date_means_now() -> None:
    assert retry_after("Tue, 17 Nov 2026 09:00:00 GMT", NOW) == timedelta()
    assert retry_after("Thu, 01 Jan 1970 00:00:00 GMT", NOW) == timedelta()


def test_a_date_far_ahead_is_capped() -> None:
    assert retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW) == MAX_WAIT


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "-5", "1.5", "1e3", "Tue, 17 Nov 2026", "Tue, 17 Nov 2026 10:02:15 -0000"],
)
def test_garbage_is_none(value: str | None) -> None:
    # "-0000" is RFC 5322's "zone unknown": no instant to wait until.
    assert retry_after(value, NOW) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("99999999999999", MAX_WAIT),  # beyond timedelta's range
        ("9" * 5000, MAX_WAIT),  # beyond int()'s default digit limit
        ("\u00b2", None),  # "²" from a Latin-1 header: isdigit() yet not int()
    ],
)
def test_an_absurd_number_does_not_crash(value: str, expected: timedelta | None) -> None:
    assert retry_after(value, NOW) == expected


def answer(status: int, text: str = "", **headers: str) -> httpx.Response:
    return httpx.Response(status, text=text, headers=headers)


def raised(response: httpx.Response) -> DeliveryError:
    with pytest.raises(DeliveryError) as error:
        check(response, NOW, "zendesk create")
    return error.value


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_success_passes(status: int) -> None:
    check(answer(status), NOW, "zendesk create")


def test_429_waits_for_retry_after_or_a_default() -> None:
    assert raised(answer(429, **{"Retry-After": "30"})).retry_after == timedelta(seconds=30)
    error = raised(answer(429, "slow down"))
    assert error.retryable
    assert error.retry_after == DEFAULT_WAIT
    assert error.reason == "zendesk create: HTTP 429: slow down (throttled)"


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "wait"),
    [
        (503, {"Retry-After": "7"}, True, timedelta(seconds=7)),
        (503, {}, True, None),
        (500, {"Retry-After": "7"}, True, None),
        (408, {}, True, None),
        (400, {}, False, None),
        (401, {}, False, None),
        (404, {"Retry-After": "7"}, False, None),
        (422, {}, False, None),
    ],
)
def test_errors(status: int, headers: dict[str, str], retryable: bool, wait: timedelta | None) -> None:
    error = raised(answer(status, **headers))

    assert (error.retryable, error.retry_after) == (retryable, wait)
    assert error.reason == f"zendesk create: HTTP {status}"


def test_the_reason_quotes_a_short_excerpt_of_the_body() -> None:
    error = raised(answer(400, "line one\nline two " + "x" * 500))

    assert error.reason.startswith("zendesk create: HTTP 400: line one line two x")
    assert len(error.reason) == len("zendesk create: HTTP 400: ") + 200


def test_a_transport_error_is_transient() -> None:
    error = transport_error(httpx.ConnectError("refused"), "zendesk create")

    assert error.retryable
    assert error.reason == "zendesk create: ConnectError: refused"
