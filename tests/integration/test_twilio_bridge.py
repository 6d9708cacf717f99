"""The crisis bridge over Twilio: crisis-cell members paged by voice press 0 and join the incident's
conference; joining is their acknowledgement, and who joined and left is on the timeline. Against the fake
Twilio and the phone of tests/support, with memoguard's real HTTP application (test_twilio_voice.py's
fixtures).
"""

# ruff: noqa: F811 (pytest fixtures imported from test_twilio_voice.py, then asked for by name)
from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from memoguard.adapters.twilio import TwilioProvider
from memoguard.domain.incident import IncidentState
from memoguard.http.app import create_app
from memoguard.services.application import Application
from memoguard.services.provider import Provider
from tests.integration.test_http import serving
from tests.integration.test_twilio import PUBLIC_URL, settings
from tests.integration.test_twilio_voice import MENU_FR, VOICE, _called, twilio, world  # noqa: F401 (fixtures)
from tests.support.delivery import Builder, World
from tests.support.phone import Phone
from tests.support.twilio import AUTH_TOKEN, NUMBER, Twilio


@pytest.fixture
def crisis(build: Builder, service_dir: Path, twilio: Twilio) -> Iterator[World]:
    """Policy ``crisis``: alice by SMS for 5 minutes, then the crisis cell (erin, gina, hank; quorum 2;
    bridge +33123456789) by voice through the real twilio provider."""
    path = service_dir / "escalation_policies" / "crisis.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "members: [erin, gina, hank], channels: [sms]", "members: [erin, gina, hank], channels: [voice]"
    )
    path.write_text(text, encoding="utf-8")
    with ExitStack() as stack:

        def real(app: Application) -> dict[str, Provider]:
            assert app.calls is not None
            provider = TwilioProvider(
                "twilio", settings(twilio), AUTH_TOKEN, PUBLIC_URL, app.replies, app.clock, app.calls
            )
            served = dataclasses.replace(app, hooks={"twilio": provider.hook})
            twilio.target = stack.enter_context(serving(create_app(served, lambda: True)))
            return {"twilio": provider}

        yield build(VOICE, ("backup", "mailer"), real=real)


def test_crisis_cell_members_press_0_and_joining_the_bridge_acknowledges(crisis: World, twilio: Twilio) -> None:
    [incident] = crisis.open("db-1", policy="crisis")
    crisis.settle()
    crisis.clock.advance(timedelta(minutes=5))
    crisis.app.timers.fire_all_due()
    crisis.settle()
    calls = {c.to: Phone(twilio, c) for c in twilio.calls}
    assert set(calls) == {"+33612345605", "+33612345606", "+33612345607"}  # erin, gina, hank
    erin, gina = calls["+33612345605"], calls["+33612345606"]

    erin.answer()
    assert [s.text for s in erin.said] == [
        "Ici memoguard. Crise, incident 1, gravité critical : disk full on db-1. La cellule de crise est appelée,"
        " 2 acquittement(s) requis. Pont de conférence : +33123456789.",
        "Tapez 1 pour acquitter, 9 pour escalader maintenant, 0 pour rejoindre le pont de crise,"
        " étoile pour réécouter.",
    ]
    erin.press("0")
    assert [s.text for s in erin.said] == ["Vous rejoignez le pont de crise de l'incident 1."]
    conference = erin.conference
    assert conference is not None and conference.text == "memoguard-incident-1"
    assert urlsplit(conference.attrib["statusCallback"]).path == "/twilio/twilio/conference"
    assert crisis.incident(incident).acked_by == ()  # pressing 0 is not yet joining

    assert erin.bridge("conference-start").status == 200
    assert erin.bridge("participant-join").status == 200
    assert crisis.incident(incident).acked_by == ("erin",)
    gina.answer()
    gina.press("0")
    assert gina.bridge("participant-join").status == 200
    found = crisis.incident(incident)
    assert (found.state, set(found.acked_by)) == (IncidentState.ACKNOWLEDGED, {"erin", "gina"})
    assert erin.bridge("participant-leave").status == 200
    assert erin.bridge("conference-end").status == 200
    assert [e.text for e in crisis.timeline(incident, "crisis_bridge")] == [
        "The crisis bridge (memoguard-incident-1) started",
        "erin joined the crisis bridge (memoguard-incident-1)",
        "gina joined the crisis bridge (memoguard-incident-1)",
        "erin left the crisis bridge (memoguard-incident-1)",
        "The crisis bridge (memoguard-incident-1) ended",
    ]
    forged = twilio.post(conference.attrib["statusCallback"], {"AccountSid": twilio.account_sid}, token="0" * 32)
    assert forged.status == 403


def test_0_does_nothing_on_a_page_without_a_bridge(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio)
    phone.answer()
    phone.press("0")
    assert [s.text for s in phone.said] == ["Touche non reconnue.", MENU_FR]
    assert phone.conference is None and world.incident(incident).state == IncidentState.TRIGGERED


def _crisis_called(crisis: World, twilio: Twilio) -> tuple[str, dict[str, Phone]]:
    [incident] = crisis.open("db-1", policy="crisis")
    crisis.settle()
    crisis.clock.advance(timedelta(minutes=5))
    crisis.app.timers.fire_all_due()
    crisis.settle()
    return incident, {c.to: Phone(twilio, c) for c in twilio.calls}


def test_key_9_on_a_crisis_cell_call_escalates_once_when_the_same_gather_is_posted_again(
    crisis: World, twilio: Twilio
) -> None:
    incident, calls = _crisis_called(crisis, twilio)
    erin = calls["+33612345605"]
    erin.answer()
    before = crisis.incident(incident)

    assert erin.press("9").status == 200
    after = crisis.incident(incident)
    assert after.version != before.version
    assert len(crisis.timeline(incident, "escalate_requested")) == 1

    replayed = erin.press("9", again=True)  # the same signed Gather, posted again
    assert replayed.status == 200
    assert [s.text for s in erin.said] == ["L'incident 1 a déjà quitté ce niveau. Au revoir."]
    assert len(crisis.timeline(incident, "escalate_requested")) == 1
    assert crisis.incident(incident).version == after.version


DIAL = f"{PUBLIC_URL}/twilio/twilio/dial"


def _dial(twilio: Twilio, caller: str, sid: str, verstat: str = "TN-Validation-Passed-A") -> ET.Element:
    """``caller`` dials the provider's number directly: Twilio posts its voice webhook, signed, with the
    network's STIR/SHAKEN verdict on the caller ID (``StirVerstat``; none when ``verstat`` is empty)."""
    form = {
        "AccountSid": twilio.account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "From": caller,
        "To": NUMBER,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    if verstat:
        form["StirVerstat"] = verstat
    answer = twilio.post(DIAL, form)
    assert (answer.status, answer.content_type) == (200, "text/xml; charset=utf-8"), answer.body
    return ET.fromstring(answer.body)


def _event(twilio: Twilio, dialled: ET.Element, event: str, sid: str) -> int:
    form = {
        "AccountSid": twilio.account_sid,
        "ConferenceSid": "CF" + "c" * 32,
        "FriendlyName": dialled.text or "",
        "StatusCallbackEvent": event,
        "CallSid": sid,
    }
    return twilio.post(dialled.attrib["statusCallback"], form).status


def test_a_member_dialling_the_bridge_number_is_matched_by_their_number_and_joining_acknowledges(
    crisis: World, twilio: Twilio
) -> None:
    incident, _ = _crisis_called(crisis, twilio)
    sid = "CA" + "d" * 32

    document = _dial(twilio, "+33612345606", sid)  # gina, not through her page's call

    assert [s.text for s in document.iter("Say")] == ["Joining the crisis bridge of incident 1."]
    dialled = document.find("Dial/Conference")
    assert dialled is not None and dialled.text == "memoguard-incident-1"
    assert _event(twilio, dialled, "participant-join", sid) == 200
    assert crisis.incident(incident).acked_by == ("gina",)
    assert [e.text for e in crisis.timeline(incident, "crisis_bridge")] == [
        f"gina dialled the crisis bridge number from +33612345606 (call {sid})",
        "gina joined the crisis bridge (memoguard-incident-1)",
    ]


@pytest.mark.parametrize("verstat", ["", "TN-Validation-Passed-C", "TN-Validation-Failed"])
def test_a_member_s_number_the_network_did_not_vouch_for_joins_but_acknowledges_nothing(
    crisis: World, twilio: Twilio, verstat: str
) -> None:
    # A caller ID can be forged: gina's number alone must not acknowledge as gina (and stop escalation).
    incident, _ = _crisis_called(crisis, twilio)
    sid = "CA" + "f" * 32

    document = _dial(twilio, "+33612345606", sid, verstat)

    dialled = document.find("Dial/Conference")
    assert dialled is not None and dialled.text == "memoguard-incident-1"
    assert _event(twilio, dialled, "participant-join", sid) == 200
    assert crisis.incident(incident).acked_by == ()
    assert [e.text for e in crisis.timeline(incident, "crisis_bridge")] == [
        f"gina's number +33612345606 dialled the crisis bridge (call {sid}); the network did not vouch for"
        " the caller ID, so joining is not their acknowledgement",
        f"An unknown participant (call {sid}) joined the crisis bridge (memoguard-incident-1)",
    ]


def test_an_unknown_caller_is_not_let_in_and_an_unknown_participant_is_on_the_timeline(
    crisis: World, twilio: Twilio
) -> None:
    incident, calls = _crisis_called(crisis, twilio)
    before = crisis.timeline(incident)

    document = _dial(twilio, "+33699999999", "CA" + "e" * 32)

    assert [s.text for s in document.iter("Say")] == [
        "This number is not that of a crisis-cell member whose incident has a bridge open. Goodbye."
    ]
    assert document.find("Dial") is None and document.find("Hangup") is not None
    assert crisis.timeline(incident) == before

    erin = calls["+33612345605"]
    erin.answer()
    erin.press("0")
    dialled = erin.conference
    assert dialled is not None
    stranger = "CA" + "f" * 32  # in the conference by some other way than memoguard's
    assert _event(twilio, dialled, "participant-join", stranger) == 200
    assert crisis.incident(incident).acked_by == ()
    [entry] = crisis.timeline(incident, "crisis_bridge")
    assert entry.text == f"An unknown participant (call {stranger}) joined the crisis bridge (memoguard-incident-1)"


def test_no_one_dials_into_a_bridge_before_the_crisis_cell_is_paged(crisis: World, twilio: Twilio) -> None:
    [incident] = crisis.open("db-1", policy="crisis")
    crisis.settle()
    document = _dial(twilio, "+33612345605", "CA" + "d" * 32)  # erin: the cell is not paged yet
    assert document.find("Dial") is None
    assert crisis.timeline(incident, "crisis_bridge") == []


def test_a_conference_event_about_another_bridge_changes_nothing(crisis: World, twilio: Twilio) -> None:
    incident, calls = _crisis_called(crisis, twilio)
    erin = calls["+33612345605"]
    erin.answer()
    erin.press("0")
    dialled = erin.conference
    assert dialled is not None
    dialled.text = "memoguard-incident-2"
    assert _event(twilio, dialled, "participant-join", erin.call.sid) == 422
    assert crisis.incident(incident).acked_by == () and crisis.timeline(incident, "crisis_bridge") == []


@pytest.mark.parametrize("forgery", ["no signature", "no page in the URL", "a page memoguard did not sign"])
def test_a_bridge_request_not_signed_or_naming_no_page_changes_nothing(
    crisis: World, twilio: Twilio, forgery: str
) -> None:
    incident, calls = _crisis_called(crisis, twilio)
    erin = calls["+33612345605"]
    erin.answer()
    erin.press("0")
    dialled = erin.conference
    assert dialled is not None
    url = dialled.attrib["statusCallback"]
    form = {
        "AccountSid": twilio.account_sid,
        "ConferenceSid": "CF" + "c" * 32,
        "FriendlyName": "memoguard-incident-1",
        "StatusCallbackEvent": "participant-join",
        "CallSid": erin.call.sid,
    }
    match forgery:
        case "no signature":
            assert twilio.post(url, form, signature=None).status == 403
            dial = {"AccountSid": twilio.account_sid, "CallSid": "CA" + "d" * 32, "From": "+33612345606"}
            assert twilio.post(DIAL, dial, token="0" * 32).status == 403
        case "no page in the URL":
            assert twilio.post(url.split("?")[0], form).status == 422
        case _:
            assert twilio.post(url.replace("m=", "m=0"), form).status == 422
    assert crisis.incident(incident).acked_by == () and crisis.timeline(incident, "crisis_bridge") == []
