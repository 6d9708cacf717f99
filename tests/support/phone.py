"""The other side of a call memoguard placed through the fake Twilio: Twilio fetching the TwiML when the
call is answered, the keys the person presses, the silence when they press none, the call's statuses.

Every request is signed as Twilio signs it (tests/support/twilio.py ``post``), to the URLs memoguard gave:
the call's ``Url``, then the ``action`` of the ``<Gather>`` or the ``<Redirect>`` of the last TwiML
document it answered, the call's ``StatusCallback``, and the ``statusCallback`` of a ``<Conference>`` it dials
(the crisis bridge's join and leave events). The TwiML is read as Twilio reads it (XML):
``said`` is every ``<Say>`` of the last document, in order, with its voice and language.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from tests.support.twilio import NUMBER, Answer, Placed, Twilio


@dataclass(frozen=True)
class Said:
    text: str
    voice: str
    language: str


class Phone:
    def __init__(self, twilio: Twilio, call: Placed) -> None:
        self.twilio = twilio
        self.call = call
        self.answer_to: Answer | None = None
        self._document: ET.Element | None = None
        self._last_gather: str | None = None

    def _form(self, **extra: str) -> dict[str, str]:
        form = {
            "AccountSid": self.twilio.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call.sid,
            "From": self.call.form.get("From", NUMBER),
            "To": self.call.to,
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
        }
        return form | extra

    def _post(self, url: str, form: dict[str, str]) -> Answer:
        answer = self.twilio.post(url, form)
        self.answer_to = answer
        if answer.status == 200:
            self._document = ET.fromstring(answer.body)
            assert self._document.tag == "Response", answer.body
        return answer

    def answer(self, answered_by: str = "human") -> Answer:
        """The call is answered (by a person, or ``machine_start``, ``fax``…): Twilio fetches the TwiML."""
        return self._post(self.call.form["Url"], self._form(AnsweredBy=answered_by))

    def press(self, key: str, *, again: bool = False) -> Answer:
        """The person presses ``key`` while the last document's <Gather> runs; ``again``: Twilio posts
        the previous key's request once more (to the same gather URL), whatever the last document."""
        if again:
            assert self._last_gather is not None
            return self._post(self._last_gather, self._form(Digits=key, FinishedOnKey=""))
        gather = self.gather
        assert gather is not None, "no <Gather> in the last TwiML: no key can be pressed"
        assert gather.get("numDigits") == "1" and gather.get("method") == "POST"
        self._last_gather = gather.attrib["action"]
        return self._post(gather.attrib["action"], self._form(Digits=key, FinishedOnKey=""))

    def silence(self) -> Answer:
        """No key pressed: Twilio goes on after the <Gather>, to the <Redirect>."""
        assert self._document is not None
        redirect = self._document.find("Redirect")
        assert redirect is not None and redirect.text, "no <Redirect> after the gather: the call ends"
        return self._post(redirect.text, self._form())

    def status(self, status: str, answered_by: str | None = None, error: str | None = None) -> Answer:
        extra = {"CallStatus": status, "CallDuration": "12"}
        if answered_by is not None:
            extra["AnsweredBy"] = answered_by
        if error is not None:
            extra["ErrorCode"] = error
        return self.twilio.post(self.call.form["StatusCallback"], self._form(**extra))

    @property
    def conference(self) -> ET.Element | None:
        """The <Conference> the last document dials, if any."""
        return None if self._document is None else self._document.find("Dial/Conference")

    def bridge(self, event: str, *, conference: str = "CF" + "c" * 32) -> Answer:
        """Twilio reporting ``event`` (participant-join, participant-leave, conference-start…) of the
        conference the last document dialled, with this call as the participant, to its statusCallback."""
        dialled = self.conference
        assert dialled is not None, "the last TwiML dials no conference"
        assert set(dialled.attrib["statusCallbackEvent"].split()) >= {"join", "leave"}
        form = {
            "AccountSid": self.twilio.account_sid,
            "ConferenceSid": conference,
            "FriendlyName": dialled.text or "",
            "StatusCallbackEvent": event,
            "Timestamp": "Tue, 17 Nov 2026 10:05:00 +0000",
            "SequenceNumber": "1",
        }
        if event.startswith("participant-"):
            form |= {"CallSid": self.call.sid, "Muted": "false", "Hold": "false", "Coaching": "false"}
        return self.twilio.post(dialled.attrib["statusCallback"], form)

    @property
    def gather(self) -> ET.Element | None:
        return None if self._document is None else self._document.find("Gather")

    @property
    def said(self) -> list[Said]:
        """Every <Say> of the last document, before, inside and after its <Gather>."""
        assert self._document is not None
        return [
            Said(say.text or "", say.get("voice", ""), say.get("language", "")) for say in self._document.iter("Say")
        ]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.said)

    @property
    def hangs_up(self) -> bool:
        return self._document is not None and self._document.find("Hangup") is not None
