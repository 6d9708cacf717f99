"""The hook port: requests a provider's network makes to memoguard (Twilio's webhooks), as the HTTP layer
hands them over, without naming the provider's adapter (only bootstrap names adapters).

The HTTP layer passes the request as it came: the path and query it was asked for (relative to
``http.public_url``), the form fields in order, and the signature header. The hook checks the signature
before it reads anything else, turns the request into what the ``Inbox`` takes (a ``Receipt``, an
``Inbound``) or what the ``Calls`` take (a key, a call's status), and returns once they have, with what
to answer (a call's next TwiML). A request whose signature is missing or wrong raises ``Forged`` and
changes nothing; the HTTP layer answers 403.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Callback:
    """``kind``: what the route is for ("sms": a text from a phone; "status": a message's delivery status;
    "voice": a call's TwiML; "gather": a key pressed on a call; "call": a call's status).
    ``path`` and ``query`` as requested (``/twilio/main/sms``, ``""``); ``form`` the body's fields in order."""

    kind: str
    path: str
    query: str
    form: Sequence[tuple[str, str]]
    signature: str | None


class Forged(Exception):
    """The request is not signed by the provider's network (no signature, or a wrong one)."""


class Malformed(Exception):
    """A signed request that lacks what its kind needs (a status without MessageSid…)."""


class Hook(Protocol):
    def handle(self, callback: Callback) -> str | None:
        """Check, translate and hand ``callback`` to the inbox (or the calls). Returns the document to
        answer with (TwiML), None for an empty one. Raises Forged, Malformed, or whatever the inbox
        raised (then nothing was recorded, and the network may ask again)."""
        ...
