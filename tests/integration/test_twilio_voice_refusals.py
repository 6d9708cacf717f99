"""Voice pages through Twilio: every bad request is refused with a reason naming what is wrong and changes
nothing; a call Twilio cannot place fails at once, for good; durations are spoken in words.
"""

# ruff: noqa: F811 (pytest fixtures imported from test_twilio_voice.py, then asked for by name)
from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from memoguard.adapters.twilio import TwilioProvider
from memoguard.domain.incident import IncidentState
from memoguard.domain.person import Person
from memoguard.services.provider import DeliveryError
from memoguard.services.voice import spoken
from tests.conftest import FakeClock
from tests.integration.test_twilio import PUBLIC_URL, _NoInbox, page, settings
from tests.integration.test_twilio_voice import _called, twilio, world  # noqa: F401 (fixtures)
from tests.support.delivery import World
from tests.support.twilio import AUTH_TOKEN, Twilio


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"CallSid": "CA123"}, "CallSid 'CA123' is not a call SID"),
        ({"CallSid": None}, "CallSid '' is not a call SID"),
        ({"Digits": None}, "a gather without Digits"),
        ({"AccountSid": "AC" + "1" * 32}, f"AccountSid {'AC' + '1' * 32!r} is not this provider's account"),
    ],
)
def test_a_malformed_key_is_refused_by_name(
    world: World, twilio: Twilio, change: dict[str, str | None], reason: str
) -> None:
    incident, phone = _called(world, twilio)
    phone.answer()
    gather = phone.gather
    assert gather is not None
    form = {"AccountSid": twilio.account_sid, "CallSid": phone.call.sid, "Digits": "1"} | change
    answer = twilio.post(gather.attrib["action"], {k: v for k, v in form.items() if v is not None})
    assert answer.status == 422
    assert answer.json() == {"detail": [{"loc": ["body"], "msg": reason, "type": "invalid"}]}
    assert world.incident(incident).state == IncidentState.TRIGGERED


def test_an_attempt_memoguard_did_not_make_and_a_status_without_callstatus_are_refused(
    world: World, twilio: Twilio
) -> None:
    _, phone = _called(world, twilio)
    form = {"AccountSid": twilio.account_sid, "CallSid": phone.call.sid}
    answer = twilio.post(phone.call.form["Url"].replace("a=1", "a=99"), form)
    assert (answer.status, answer.json()["detail"][0]["msg"]) == (
        422,
        "attempt '99' in the URL is not one memoguard made",
    )
    answer = twilio.post(phone.call.form["StatusCallback"], form)
    assert (answer.status, answer.json()["detail"][0]["msg"]) == (422, "a call status callback without CallStatus")


@pytest.mark.parametrize(
    ("changes", "person", "why"),
    [
        (
            {"messaging_service_sid": "MG" + "ab" * 16, "from": None},
            None,
            "a call needs 'from' (a messaging service cannot place calls)",
        ),
        ({}, Person("dave"), "dave has no phone number"),
        ({}, Person("dave", phone="0612345678"), "dave's phone '0612345678' is not an E.164 number"),
    ],
)
def test_a_call_twilio_cannot_place_fails_at_once(
    twilio: Twilio, fake_clock: FakeClock, changes: dict[str, Any], person: Person | None, why: str
) -> None:
    provider = TwilioProvider(
        "twilio",
        settings(twilio, **changes),
        AUTH_TOKEN,
        PUBLIC_URL,
        _NoInbox(),
        fake_clock,
        _NoCalls(),  # type: ignore[arg-type]
    )
    called = dataclasses.replace(page(person), channel="voice")
    with pytest.raises(DeliveryError) as caught:
        provider.send(called)
    assert (caught.value.reason, caught.value.retryable) == (f"twilio: {why}", False)
    assert twilio.calls == []


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(400, 21217, False), (400, 21211, False), (429, 20429, True), (500, 20500, True)],
)
def test_twilio_refusing_a_call_maps_onto_the_dispatchers_contract(
    twilio: Twilio, fake_clock: FakeClock, status: int, code: int, retryable: bool
) -> None:
    provider = TwilioProvider(
        "twilio",
        settings(twilio),
        AUTH_TOKEN,
        PUBLIC_URL,
        _NoInbox(),
        fake_clock,
        _NoCalls(),  # type: ignore[arg-type]
    )
    twilio.fail(status, code)
    with pytest.raises(DeliveryError) as caught:
        provider.send(dataclasses.replace(page(), channel="voice"))
    assert caught.value.retryable == retryable and f"error {code}" in caught.value.reason
    assert twilio.calls == []


def test_a_provider_without_calls_places_none(twilio: Twilio, fake_clock: FakeClock) -> None:
    provider = TwilioProvider("twilio", settings(twilio), AUTH_TOKEN, PUBLIC_URL, _NoInbox(), fake_clock)
    with pytest.raises(DeliveryError) as caught:
        provider.send(dataclasses.replace(page(), channel="voice"))
    assert (caught.value.reason, caught.value.retryable) == ("twilio: this provider places no calls", False)


class _NoCalls:
    """Stands for the calls service where nothing calls back."""


@pytest.mark.parametrize(
    ("duration", "language", "said"),
    [
        (timedelta(minutes=5), "fr", "5 minutes"),
        (timedelta(hours=1, minutes=30), "fr", "1 heure et 30 minutes"),
        (timedelta(hours=2, seconds=1), "en", "2 hours and 1 second"),
        (timedelta(0), "en", "0 seconds"),
        (timedelta(minutes=1), "de", "1 minute"),
    ],
)
def test_durations_are_spoken_in_words(duration: timedelta, language: str, said: str) -> None:
    assert spoken(duration, language) == said
