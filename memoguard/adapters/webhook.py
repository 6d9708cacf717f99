"""The webhook provider: POSTs each message as one JSON document to a URL of the operator's choice.

It carries two kinds of messages. Incident events (purpose ``ticket`` or ``webhook``) have no person
and ship the event document under ``"event"``. Messages to people (purpose ``page`` or ``status``)
ship the person, channel, subject and text, so a webhook can also be a channel provider (a chat
bridge, an in-house SMS gateway). The body is compact UTF-8 JSON with sorted keys::

    {"channel":"chat","created_at":"...","id":42,"incident":"12","key":"...","kind":"page",
     "person":{"email":null,"language":"en","name":"alice","phone":"+33..."},"sent_at":"...",
     "step":1,"subject":"...","text":"...","version":1}

An event carries ``"event": {...}`` (the incident event document) instead of the person's fields.

``step`` is 1-based (null outside escalation steps). ``id`` and ``key`` stay the same when a message is
sent again (a retry, a restart after a crash) and the ``Idempotency-Key`` header repeats ``key``:
receivers should drop a key they have already processed. ``sent_at`` changes on every attempt.

With a secret, each request is signed. ``X-Memoguard-Timestamp`` is the sending time in Unix seconds
and ``X-Memoguard-Signature`` is ``sha256=`` followed by the hex HMAC-SHA256, keyed with the secret, of
``<timestamp>.<raw body>``. The timestamp is inside the signed string so that a captured request
cannot be replayed later with a fresh timestamp. To verify, on the raw body bytes, before parsing::

    ts = request.headers["X-Memoguard-Timestamp"]
    mac = hmac.new(secret.encode(), ts.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest("sha256=" + mac, request.headers["X-Memoguard-Signature"]):
        reject(401)
    if abs(time.time() - int(ts)) > 300: reject(401)  # too old: a replay

or call ``verify`` below. A 2xx answer means delivered; the answer's ``X-Request-Id`` header, or the
``id`` field of a JSON object body, becomes the message's reference. 429, and 503 with Retry-After, make
the dispatcher wait, other 5xx and network errors are retried, any other answer (including
redirects) is permanent: see ``memoguard.adapters.response``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from memoguard.adapters.response import check, transport_error
from memoguard.services.clock import Clock
from memoguard.services.provider import DeliveryError, Message

FORMAT_VERSION = 1
TIMESTAMP_HEADER = "X-Memoguard-Timestamp"
SIGNATURE_HEADER = "X-Memoguard-Signature"
TOLERANCE = timedelta(minutes=5)


def _user_agent() -> str:
    try:
        return f"memoguard/{version('memoguard')}"
    except PackageNotFoundError:
        return "memoguard/dev"


USER_AGENT = _user_agent()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Memoguard-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds, as text)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str,
    timestamp: str | None,
    body: bytes,
    header: str | None,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> bool:
    """Whether ``header`` signs ``body`` at ``timestamp`` with ``secret``, and ``timestamp`` lies within
    ``tolerance`` of ``now`` on either side (clocks drift both ways; a later one is still not a replay
    window worth more than the tolerance). Missing or malformed headers are simply not valid."""
    if timestamp is None or header is None:
        return False
    text = timestamp.strip()
    if not text.isascii() or not text.isdigit():
        return False
    # In seconds rather than datetimes: a forged timestamp may be far beyond what datetime can hold.
    if abs(now.timestamp() - int(text)) > tolerance.total_seconds():
        return False
    expected = signature(secret, text, body).encode("ascii")
    # Bytes, because compare_digest refuses non-ASCII str and a header is whatever the client sent.
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "surrogateescape"))


class WebhookProvider:
    def __init__(
        self,
        name: str,
        url: str,
        clock: Clock,
        *,
        secret: str | None = None,
        timeout: timedelta = timedelta(seconds=10),
        client: httpx.Client | None = None,
    ) -> None:
        target = httpx.URL(url)
        if target.scheme not in ("http", "https") or not target.host:
            raise ValueError(f"webhook {name}: {url!r} is not an http(s) URL")
        if secret == "":
            # An empty key signs nothing a receiver could trust; better refuse than pretend.
            raise ValueError(f"webhook {name}: the secret is empty")
        self.name = name
        self._url = target
        self._clock = clock
        self._secret = secret
        self._timeout = timeout.total_seconds()
        self._own_client = client is None
        # No redirects: a moved webhook is a configuration to fix, and following one would re-POST the
        # signed body to wherever the redirect points.
        self._client = client if client is not None else httpx.Client(follow_redirects=False)
        # Only the host in error reasons: webhook paths often embed a token (chat incoming webhooks).
        self._what = f"webhook POST {target.host}"

    def send(self, message: Message) -> str | None:
        now = self._clock.now()
        body = encode(message, now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": message.key,
        }
        if self._secret is not None:
            timestamp = str(int(now.timestamp()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = signature(self._secret, timestamp, body)
        try:
            response = self._client.post(self._url, content=body, headers=headers, timeout=self._timeout)
        except httpx.HTTPError as error:
            raise transport_error(error, self._what) from None
        check(response, self._clock.now(), self._what)
        return _reference(response)

    def close(self) -> None:
        if self._own_client:
            self._client.close()


def document(message: Message, now: datetime) -> dict[str, Any]:
    """The JSON document POSTed for ``message`` at ``now``."""
    doc: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "id": message.id,
        "key": message.key,
        "kind": message.purpose,
        "incident": message.incident,
        "created_at": message.created_at.isoformat(),
        "sent_at": now.isoformat(),
    }
    if message.event is not None:
        doc["event"] = message.event
    if message.person is not None:
        person = message.person
        doc["person"] = {
            "name": person.name,
            "phone": person.phone,
            "email": person.email,
            "language": person.language,
        }
        doc["channel"] = message.channel
        doc["subject"] = message.subject
        doc["text"] = message.text
        doc["step"] = None if message.step is None else message.step + 1
    if message.event is None and message.person is None:
        raise DeliveryError(f"message {message.id}: neither a person nor an event to deliver", retryable=False)
    return doc


def encode(message: Message, now: datetime) -> bytes:
    """The exact bytes POSTed (and signed) for ``message`` at ``now``."""
    try:
        text = json.dumps(
            document(message, now),
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
            allow_nan=False,
            default=_jsonable,
        )
    except (TypeError, ValueError) as error:
        # The same message would fail the same way on every attempt.
        raise DeliveryError(f"message {message.id}: cannot encode as JSON: {error}", retryable=False) from None
    return text.encode("utf-8")


def _jsonable(value: object) -> Any:
    # Events are Mappings, not necessarily dicts (a MappingProxyType, a frozen view), and may hold times.
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)  # sorted, so the same message always encodes to the same bytes
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _reference(response: httpx.Response) -> str | None:
    request_id: str | None = response.headers.get("X-Request-Id")
    if request_id:
        return request_id
    try:
        data = response.json()
    except ValueError:  # no body, not JSON, not UTF-8: fine, there is just no id
        return None
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None
