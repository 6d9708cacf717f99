"""Twilio's refusals, for messages and calls alike, mapped onto the dispatcher's contract: one table
(adapters/twilio/errors.py) and one row here per case, in the style of Alertmanager's RetryTests.

What a row says: Twilio answered HTTP ``status`` with error ``code`` (and ``Retry-After: wait``); the
dispatcher then holds the provider (``retry_after``), retries it (retryable), or fails the page over to
the next provider or channel at once (permanent).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from memoguard.adapters.twilio.errors import PERMANENT, refused

SLOW = timedelta(seconds=1)

ROWS = [
    # slow down: the provider is held
    pytest.param(429, 20429, "7", True, timedelta(seconds=7), id="429-retry-after"),
    pytest.param(429, None, None, True, SLOW, id="429"),
    pytest.param(400, 20429, None, True, SLOW, id="20429"),
    pytest.param(503, None, "30", True, timedelta(seconds=30), id="503-retry-after"),
    pytest.param(429, None, "86400", True, timedelta(minutes=10), id="429-bounded"),
    pytest.param(429, None, "soon", True, SLOW, id="429-unreadable-retry-after"),
    # retryable: may work later
    pytest.param(503, None, None, True, None, id="503-without-retry-after"),
    pytest.param(500, 20500, None, True, None, id="500"),
    pytest.param(401, 20003, None, True, None, id="20003-credentials"),
    pytest.param(400, 21620, None, True, None, id="unknown-code"),
    pytest.param(400, None, None, True, None, id="no-code"),
    # permanent, messages
    pytest.param(400, 21211, None, False, None, id="21211-invalid-to"),
    pytest.param(400, 21610, None, False, None, id="21610-opted-out"),
    pytest.param(400, 21614, None, False, None, id="21614-not-a-mobile"),
    pytest.param(400, 30003, None, False, None, id="30003-unreachable"),
    # permanent, calls
    pytest.param(400, 13223, None, False, None, id="13223-bad-format"),
    pytest.param(400, 13224, None, False, None, id="13224-cannot-call"),
    pytest.param(400, 21210, None, False, None, id="21210-from-not-verified"),
    pytest.param(400, 21214, None, False, None, id="21214-unreachable"),
    pytest.param(400, 21215, None, False, None, id="21215-geo-permission"),
    pytest.param(400, 21216, None, False, None, id="21216-blocked"),
    pytest.param(400, 21217, None, False, None, id="21217-invalid"),
    pytest.param(400, 21219, None, False, None, id="21219-trial-unverified"),
    pytest.param(400, 21401, None, False, None, id="21401-invalid-number"),
]


@pytest.mark.parametrize(("status", "code", "wait", "retryable", "retry_after"), ROWS)
def test_each_refusal_maps_onto_the_dispatchers_contract(
    status: int, code: int | None, wait: str | None, retryable: bool, retry_after: timedelta | None
) -> None:
    error = refused("twilio", status, code, "refused", wait)
    assert (error.retryable, error.retry_after) == (retryable, retry_after)
    assert error.reason.startswith(f"twilio: Twilio refused the message (HTTP {status}")
    if code in PERMANENT:
        assert error.reason.endswith(PERMANENT[code])


def test_slowing_down_wins_over_a_permanent_code() -> None:
    """A 429 is about the rate, whatever code its body carries: the provider is held, the page not lost."""
    error = refused("twilio", 429, 21211, "too many requests", None)
    assert (error.retryable, error.retry_after) == (True, SLOW)


def test_every_permanent_code_is_described() -> None:
    assert all(isinstance(code, int) and text.strip() for code, text in PERMANENT.items())
