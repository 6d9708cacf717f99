"""Twilio's requests about a call: the TwiML when it is answered, a key pressed, the call's status.

hook.py has checked the signature (over the public URL, query included, and the form) and the account
before these run. The call is then found by its CallSid (the page it was placed for, services/voice.py),
the notification id signed into the URL agreeing; a URL whose id memoguard did not sign, or a CallSid no
page was placed as, is refused (``Malformed``) and changes nothing. Nothing in the request names who
acts or on what: a key acts as the person called, on the incident of that call, and a crisis bridge's
participant event as the person whose call joined. A call to the provider's number (``dial``: its voice
webhook) is a crisis-cell member dialling the bridge, matched by their number (services/bridge.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from memoguard.adapters.twilio import twiml, voice
from memoguard.services.bridge import Bridge
from memoguard.services.hook import Callback, Malformed
from memoguard.services.voice import Call, CallDesk, Script, UnknownCall

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
KINDS = frozenset({"voice", "gather", "call", "conference", "dial"})
VOUCHED = "TN-Validation-Passed-A"  # Twilio's StirVerstat for a caller ID verified with full attestation


class CallHook:
    def __init__(self, name: str, auth_token: str, public_url: str, calls: CallDesk) -> None:
        self.name = name
        self._token = auth_token
        self._public_url = public_url
        self._calls = calls

    @property
    def _bridge(self) -> Bridge:
        """The crisis bridge's side of the calls in force, for one request: after a reload, a member
        added can dial in and one removed cannot (services/live.py)."""
        return Bridge(self._calls.current())

    def handle(self, callback: Callback, fields: Mapping[str, str]) -> str | None:
        query = dict(parse_qsl(callback.query, keep_blank_values=True))
        sid = fields.get("CallSid", "")
        if callback.kind == "conference":
            self._conference(query, fields, sid)
            return None
        if not CALL_SID.fullmatch(sid):
            raise Malformed(f"CallSid {sid!r} is not a call SID")
        if callback.kind == "dial":
            return self._dial_in(fields, sid)
        try:
            call = self._calls.call(self.name, sid, voice.signed(self._token, self.name, query))
        except (ValueError, UnknownCall) as error:
            raise Malformed(str(error)) from None
        attempt = _attempt(query)
        answered_by = fields.get("AnsweredBy") or None
        if callback.kind == "call":
            status = fields.get("CallStatus")
            if not status:
                raise Malformed("a call status callback without CallStatus")
            self._calls.status(call, status, answered_by, fields.get("ErrorCode") or fields.get("SipResponseCode"))
            return None
        if callback.kind == "voice":
            return self._document(call, self._calls.answer(call, answered_by, attempt), attempt)
        digits = fields.get("Digits")
        if digits is None:
            raise Malformed("a gather without Digits")
        return self._document(call, self._calls.key(call, digits, attempt), attempt)

    def _conference(self, query: Mapping[str, str], fields: Mapping[str, str], sid: str) -> None:
        """A crisis bridge's event, at the conference URL of the member whose call started it: that
        member's page (signed into the URL) names the incident; the participant, if any, is ``CallSid``."""
        if sid and not CALL_SID.fullmatch(sid):
            raise Malformed(f"CallSid {sid!r} is not a call SID")
        try:
            host = voice.signed(self._token, self.name, dict(query))
            if host is None:
                raise Malformed("a conference event without the page memoguard signed into its URL")
            self._bridge.event(
                self.name, host, fields.get("StatusCallbackEvent", ""), fields.get("FriendlyName", ""), sid or None
            )
        except (ValueError, UnknownCall) as error:
            raise Malformed(str(error)) from None

    def _dial_in(self, fields: Mapping[str, str], sid: str) -> str:
        """Someone called the provider's number (its voice webhook): a crisis-cell member joins the bridge."""
        caller = fields.get("From", "")
        # STIR/SHAKEN: "A" means the caller's carrier attests that they may use this number.
        vouched = fields.get("StirVerstat", "") == VOUCHED
        call, script = self._bridge.dial_in(self.name, sid, caller, vouched)
        if call is None:
            return twiml.document(script, "", None, "")
        return self._document(call, script, 1)

    def _document(self, call: Call, script: Script, attempt: int) -> str:
        n = call.notification.id
        gather = voice.url(self._public_url, voice.gather_path(self.name), self._token, self.name, n, attempt)
        redirect = None
        if script.next_attempt is not None:
            redirect = voice.url(
                self._public_url, voice.twiml_path(self.name), self._token, self.name, n, script.next_attempt
            )
        bridge = voice.url(self._public_url, voice.conference_path(self.name), self._token, self.name, n)
        return twiml.document(script, gather, redirect, bridge)


def _attempt(query: Mapping[str, str]) -> int:
    value = query.get("a", "1")
    if not value.isdigit() or not 1 <= int(value) <= 9:
        raise Malformed(f"attempt {value!r} in the URL is not one memoguard made")
    return int(value)
