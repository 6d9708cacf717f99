"""Twilio's requests about a call: the TwiML when it is answered, a key pressed, the call's status.

hook.py has checked the signature (over the public URL, query included, and the form) and the account
before these run. The call is then found by its CallSid (the page it was placed for, services/voice.py),
the notification id signed into the URL agreeing; a URL whose id memoguard did not sign, or a CallSid no
page was placed as, is refused (``Malformed``) and changes nothing. Nothing in the request names who
acts or on what: a key acts as the person called, on the incident of that call, and a crisis bridge's
participant event as the person whose call joined.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from memoguard.adapters.twilio import twiml, voice
from memoguard.services.hook import Callback, Malformed
from memoguard.services.voice import Call, CallDesk, Script, UnknownCall

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
KINDS = frozenset({"voice", "gather", "call", "conference"})


class CallHook:
    def __init__(self, name: str, auth_token: str, public_url: str, calls: CallDesk) -> None:
        self.name = name
        self._token = auth_token
        self._public_url = public_url
        self._calls = calls

    def handle(self, callback: Callback, fields: Mapping[str, str]) -> str | None:
        query = dict(parse_qsl(callback.query, keep_blank_values=True))
        sid = fields.get("CallSid", "")
        if callback.kind == "conference":
            self._conference(fields, sid)
            return None
        if not CALL_SID.fullmatch(sid):
            raise Malformed(f"CallSid {sid!r} is not a call SID")
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

    def _conference(self, fields: Mapping[str, str], sid: str) -> None:
        """A crisis bridge's event. The conference's events may come to the URL of whichever member
        started it: the participant is the one whose call ``CallSid`` is, bound to that member's page."""
        event = fields.get("StatusCallbackEvent", "")
        if not event.startswith("participant-"):
            return  # conference-start/-end name no member
        if not CALL_SID.fullmatch(sid):
            raise Malformed(f"CallSid {sid!r} is not a call SID")
        try:
            call = self._calls.call(self.name, sid, None)
            self._calls.conference(call, event, fields.get("FriendlyName", ""))
        except UnknownCall as error:
            raise Malformed(str(error)) from None

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
