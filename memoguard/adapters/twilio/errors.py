"""Twilio's refusals mapped onto the dispatcher's contract (services/provider.DeliveryError), as tables.

HTTP 429, Twilio error 20429 (too many requests) and a 503 that says when to come back ask the dispatcher
to hold the provider (``retry_after``). Errors about the number itself — not a valid number, not a
mobile, opted out, unreachable — fail the message for good: sending it again cannot work, the next
provider or channel is tried instead. Anything else (5xx, timeouts, an unknown code) may work later.
One table serves both APIs (the Messages API and the Calls API refuse with the same error body and
share the numbering): the message codes and the call codes (21210-21219: the call's numbers; 13223-13226:
a number Twilio cannot dial; 21401: an invalid number) sit side by side, so SMS and voice cannot drift.
A refusal about memoguard's own number ('From' not verified, not a Twilio number) is permanent too: the
next provider may have a number that works, and retrying this one cannot.
"""

from __future__ import annotations

import math
from datetime import timedelta

from memoguard.services.provider import DeliveryError

SLOW_DOWN_CODES = frozenset({20429})
SLOW_DOWN_STATUSES = frozenset({429})
DEFAULT_WAIT = timedelta(seconds=1)  # when Twilio asks to slow down without saying for how long
MAX_WAIT = timedelta(minutes=10)

# Twilio error codes that no retry can fix (https://www.twilio.com/docs/api/errors), for messages and calls.
PERMANENT = {
    # messages
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
    30003: "unreachable destination handset",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    # calls
    13223: "the number dialled is not in a valid format",
    13224: "Twilio does not support calling this number, or the number is invalid",
    13225: "the number dialled is forbidden (premium or blocked)",
    13226: "the number dialled has an unknown country code",
    21201: "no 'To' number was given for the call",
    21210: "the 'From' number is not a Twilio number or a verified caller ID of this account",
    21213: "no 'From' number was given for the call",
    21214: "the 'To' number cannot be reached",
    21215: "the account's geographic permissions do not allow calling this number",
    21216: "Twilio blocks calls to this number",
    21217: "the number called does not appear to be valid",
    21219: "the 'To' number is not verified (a trial account calls verified numbers only)",
    21401: "invalid phone number",
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
