"""The crisis bridge over Twilio: crisis-cell members paged by voice press 0 and join the incident's
conference; joining is their acknowledgement, and who joined and left is on the timeline. Against the fake
Twilio and the phone of tests/support, with memoguard's real HTTP application (test_twilio_voice.py's
fixtures).
"""

# ruff: noqa: F811 (pytest fixtures imported from test_twilio_voice.py, then asked for by name)
from __future__ import annotations

import dataclasses
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
from tests.support.twilio import AUTH_TOKEN, Twilio


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
    assert [e.text for e in crisis.timeline(incident, "crisis_bridge")] == [
        "erin joined the crisis bridge (memoguard-incident-1)",
        "gina joined the crisis bridge (memoguard-incident-1)",
        "erin left the crisis bridge (memoguard-incident-1)",
    ]
    forged = twilio.post(conference.attrib["statusCallback"], {"AccountSid": twilio.account_sid}, token="0" * 32)
    assert forged.status == 403


def test_0_does_nothing_on_a_page_without_a_bridge(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio)
    phone.answer()
    phone.press("0")
    assert [s.text for s in phone.said] == ["Touche non reconnue.", MENU_FR]
    assert phone.conference is None and world.incident(incident).state == IncidentState.TRIGGERED
