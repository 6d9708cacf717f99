"""Twilio's webhooks to memoguard: a message's delivery status, a text a phone sent, and a call's requests
(its TwiML, a key pressed, its status: callhook.py).

In order: the signature is checked over the raw form and the URL built from ``http.public_url`` (any
failure is ``Forged``: nothing is read further, nothing changes); the account must be this provider's;
the request becomes a ``Receipt`` (status.py maps Twilio's statuses onto the inbox's states) or an
``Inbound``; the inbox takes it, and only then does the route answer 200. Replies are not answered inline
(no TwiML ``<Message>``): services/reply.py queues the answer, which goes out through this provider like
any message, so it is retried, rate-limited and on the timeline like the rest. A call's requests are
answered with the TwiML of what the call says next.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from memoguard.adapters.twilio import signature, status
from memoguard.adapters.twilio.callhook import KINDS, CallHook
from memoguard.services.clock import Clock
from memoguard.services.hook import Callback, Forged, Malformed
from memoguard.services.inbox import Inbound, Inbox, Receipt

log = logging.getLogger(__name__)

MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


class TwilioHook:
    def __init__(
        self,
        name: str,
        account_sid: str,
        auth_token: str,
        public_url: str,
        inbox: Inbox,
        clock: Clock,
        calls: CallHook | None = None,
    ) -> None:
        self.name = name
        self._calls = calls
        self._account = account_sid
        self._token = auth_token
        self._public_url = public_url
        self._inbox = inbox
        self._clock = clock

    def handle(self, callback: Callback) -> str | None:
        url = signature.url(self._public_url, callback.path, callback.query)
        if not signature.valid(self._token, url, callback.form, callback.signature):
            log.warning("%s: refused a %s webhook with a missing or wrong X-Twilio-Signature", self.name, callback.kind)
            raise Forged("missing or wrong X-Twilio-Signature for this provider's auth token and public URL")
        fields = _fields(callback.form)
        if fields.get("AccountSid") != self._account:
            raise Malformed(f"AccountSid {fields.get('AccountSid')!r} is not this provider's account")
        if callback.kind in KINDS:
            if self._calls is None:
                raise Malformed(f"{self.name} places no calls")
            return self._calls.handle(callback, fields)
        sid = fields.get("MessageSid") or fields.get("SmsSid") or ""
        if not MESSAGE_SID.fullmatch(sid):
            raise Malformed(f"MessageSid {sid!r} is not a message SID")
        if callback.kind == "status":
            reported = fields.get("MessageStatus") or fields.get("SmsStatus")
            if not reported:
                raise Malformed("a status callback without MessageStatus")
            error = fields.get("ErrorCode") or None
            self._inbox.receipt(Receipt(self.name, sid, status.state(reported), error, self._clock.now()))
        elif callback.kind == "sms":
            sender = fields.get("From")
            if not sender:
                raise Malformed("an inbound SMS without From")
            self._inbox.reply(Inbound(self.name, sender, fields.get("To", ""), fields.get("Body", "")))
        else:
            raise Malformed(f"no Twilio webhook {callback.kind!r}")
        return None


def _fields(form: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The first value of each field (Twilio sends each once; the signature covered them all)."""
    found: dict[str, str] = {}
    for key, value in form:
        found.setdefault(key, value)
    return found
