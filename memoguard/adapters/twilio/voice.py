"""The Calls API form of one voice page, and the URLs Twilio is given for the call
(https://www.twilio.com/docs/voice/api/call-resource).

``Url`` is memoguard's TwiML route under ``http.public_url``: Twilio fetches it once the call is
answered, and memoguard says the page and asks for a key (twiml.py). ``StatusCallback`` with
``StatusCallbackEvent`` brings back the call's progress (answered, completed, no-answer, busy, failed…)
for the timeline. ``MachineDetection=Enable`` (answering machine detection) has Twilio say who answered
(``AnsweredBy``: human, machine_start, fax, unknown) when it fetches the TwiML: a voicemail is never asked
for a key. A call comes from ``from``: a messaging service cannot place calls.

Each URL carries the page's notification id and a MAC of it under the auth token (``n``, ``m``): the call's
id (CallSid) is what binds a request to its page once the dispatcher has recorded it, and the signed id
covers a request that beats that commit. Nobody without the auth token can make one up, and Twilio's
signature covers the whole URL, query included.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from memoguard.adapters.twilio.sms import E164
from memoguard.config.schema import TwilioProvider as TwilioSettings
from memoguard.services.provider import DeliveryError, Message

EVENTS = ("initiated", "ringing", "answered", "completed")
RING = 30  # seconds a call rings before it is "no-answer" (Twilio's Timeout; a voicemail often picks up first)


def twiml_path(name: str) -> str:
    return f"/twilio/{name}/voice"


def gather_path(name: str) -> str:
    return f"/twilio/{name}/gather"


def call_status_path(name: str) -> str:
    return f"/twilio/{name}/call"


def conference_path(name: str) -> str:
    return f"/twilio/{name}/conference"


def mac(token: str, name: str, notification: int) -> str:
    return hmac.new(token.encode(), f"voice|{name}|{notification}".encode(), hashlib.sha256).hexdigest()[:32]


def signed(token: str, name: str, query: dict[str, str]) -> int | None:
    """The notification id a request's query carries, when its MAC is ours; None when it has none.
    Raises ValueError when it has one that is not ours."""
    value = query.get("n")
    if value is None:
        return None
    if not value.isdigit() or not hmac.compare_digest(mac(token, name, int(value)), query.get("m", "")):
        raise ValueError(f"the notification {value!r} in the URL is not signed by memoguard")
    return int(value)


def url(public_url: str, path: str, token: str, name: str, notification: int, attempt: int | None = None) -> str:
    query = {"n": str(notification), "m": mac(token, name, notification)}
    if attempt is not None:
        query["a"] = str(attempt)
    return public_url.rstrip("/") + path + "?" + urlencode(query)


def form(name: str, settings: TwilioSettings, token: str, public_url: str, message: Message) -> dict[str, str]:
    person = message.person
    if person is None:
        raise DeliveryError(f"{name}: a call needs a person to call", retryable=False)
    if not person.phone:
        raise DeliveryError(f"{name}: {person.name} has no phone number", retryable=False)
    if not E164.fullmatch(person.phone):
        raise DeliveryError(f"{name}: {person.name}'s phone {person.phone!r} is not an E.164 number", retryable=False)
    if settings.from_ is None:
        raise DeliveryError(f"{name}: a call needs 'from' (a messaging service cannot place calls)", retryable=False)
    return {
        "To": person.phone,
        "From": settings.from_,
        "Url": url(public_url, twiml_path(name), token, name, message.id, 1),
        "StatusCallback": url(public_url, call_status_path(name), token, name, message.id),
        "MachineDetection": "Enable",
        "Timeout": str(RING),
    }
