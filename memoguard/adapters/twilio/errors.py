"""Twilio's refusals mapped onto the dispatcher's contract (services/provider.DeliveryError), as tables.

HTTP 429, Twilio error 20429 (too many requests) and a 503 that says when to come back ask the dispatcher
to hold the provider (``retry_after``). Errors about the number itself — not a valid number, not a
mobile, opted out, unreachable — fail the message for good: sending it again cannot work, the next
provider or channel is tried instead. Anything else (5xx, timeouts, an unknown code) may work later.
The same tables hold for calls: the Calls API refuses the same way (21217: a number that cannot be called).
"""

from __future__ import annotations

import math
from datetime import timedelta

from memoguard.services.provider import DeliveryError

SLOW_DOWN_CODES = frozenset({20429})
SLOW_DOWN_STATUSES = frozenset({429})
DEFAULT_WAIT = timedelta(seconds=1)  # when Twilio asks to slow down without saying for how long
MAX_WAIT = timedelta(minutes=10)

# Twilio error codes that no retry can fix (https://www.twilio.com/docs/api/errors).
PERMANENT = {
    21211: "invalid 'To' phone number",
    21212: "invalid 'From' phone number",
    21408: "permission to send to this region is not enabled",
    21601: "phone number is not a valid SMS-capable number",
    21602: "message body is required",
    21604: "'To' phone number is required",
    21606: "the 'From' number is not a valid SMS-capable number of this account",
    21610: "the recipient replied STOP to this number (opted out)",
    21612: "this 'To' number cannot be reached from this 'From' number",
    21614: "'To' number is not a valid mobile number",
    21617: "message body exceeds 1600 characters",
    21635: "'To' number cannot receive SMS (a landline)",
    21659: "'From' is not a Twilio number",
    21217: "the number called does not appear to be valid",
    30003: "unreachable destination handset",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
}


def retry_after(value: str | None) -> timedelta | None:
    """Retry-After in seconds (Twilio does not send HTTP dates), bounded; None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return min(timedelta(seconds=seconds), MAX_WAIT)


def refused(name: str, status: int, code: int | None, message: str, wait: str | None) -> DeliveryError:
    """The DeliveryError for Twilio answering ``status`` with error ``code`` (None when its body had none)."""
    said = f"error {code}: " if code is not None else ""
    reason = f"{name}: Twilio refused the message (HTTP {status}, {said}{message})"  # a page by SMS or by call
    asked = retry_after(wait)
    if status in SLOW_DOWN_STATUSES or code in SLOW_DOWN_CODES:
        return DeliveryError(reason, retryable=True, retry_after=asked or DEFAULT_WAIT)
    if status == 503 and asked is not None:
        return DeliveryError(reason, retryable=True, retry_after=asked)
    if code is not None and code in PERMANENT:
        return DeliveryError(f"{reason}: {PERMANENT[code]}", retryable=False)
    # The rest may work later (a 5xx, a suspended account put right, credentials fixed): the channel's
    # deadline bounds how long, then the next provider is tried.
    return DeliveryError(reason, retryable=True)
