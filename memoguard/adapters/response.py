"""How an HTTP provider's answer maps onto the dispatcher's contract.

2xx is delivered. 429 and 503 with Retry-After mean "wait, then try again" (the dispatcher holds the
whole provider); 408, 5xx and network errors are transient; any other 4xx is permanent, because
sending the same request again would be refused the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from memoguard.services.provider import DeliveryError

DEFAULT_WAIT = timedelta(seconds=60)  # a 429 without Retry-After: wait this long
MAX_WAIT = timedelta(hours=24)  # a Retry-After beyond a day is a broken header, not a plan


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Parse a Retry-After header: delay-seconds or an HTTP date. None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        # A huge number is a broken header; capping the digits keeps int() and timedelta in range.
        return min(timedelta(seconds=int(text[:9]) if len(text) <= 9 else MAX_WAIT.total_seconds()), MAX_WAIT)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when - now, timedelta()), MAX_WAIT)


def check(response: httpx.Response, now: datetime, what: str) -> None:
    """Raise DeliveryError unless ``response`` is a success. ``what`` names the call in the reason."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = f"{what}: HTTP {status}{_excerpt(response)}"
    wait = retry_after(response.headers.get("Retry-After"), now)
    if status == 429:
        raise DeliveryError(f"{detail} (throttled)", retryable=True, retry_after=wait or DEFAULT_WAIT)
    if status == 503 and wait is not None:
        raise DeliveryError(detail, retryable=True, retry_after=wait)
    if status == 408 or status >= 500:
        raise DeliveryError(detail, retryable=True)
    raise DeliveryError(detail, retryable=False)


def transport_error(error: httpx.HTTPError, what: str) -> DeliveryError:
    """A request that got no answer (refused, reset, timed out) may work later."""
    return DeliveryError(f"{what}: {type(error).__name__}: {error}", retryable=True)


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {text[:200]}" if text else ""
