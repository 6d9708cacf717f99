"""Voice pages through the twilio provider, against the fake Twilio of tests/support/twilio.py and the
phone of tests/support/phone.py, with memoguard's real HTTP application serving the webhooks.

A call goes out through the Calls API as its reference requires (the fake refuses anything else); when it
is answered Twilio fetches the TwiML, and every key, silence and status comes back signed as Twilio signs
it, through the real signature check. What is said is checked word for word, in French (alice) and in
English (bob). The database runs on the fake clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from memoguard.adapters.twilio import TwilioProvider
from memoguard.domain.incident import IncidentState
from memoguard.http.app import create_app
from memoguard.services.application import Application
from memoguard.services.provider import Provider
from memoguard.services.voice import Calls
from tests.integration.test_http import serving
from tests.integration.test_twilio import PUBLIC_URL, settings
from tests.support.delivery import PENDING, SENT, Builder, World
from tests.support.phone import Phone, Said
from tests.support.twilio import AUTH_TOKEN, NUMBER, Twilio

ALICE = "+33612345601"
BOB = "+33612345602"
FR = ("Polly.Lea", "fr-FR")
EN = ("Polly.Joanna", "en-US")

VOICE = """\
channels:
  sms: [backup]
  voice: [twilio, backup]
  email: [mailer]
providers:
  twilio: {kind: console}
  backup: {kind: console}
  mailer: {kind: console}
"""
PAGE_FR = "Ici memoguard. Incident 1, gravité critical : disk full on db-1. Niveau 1 sur 3, acquittez sous 5 minutes."
MENU_FR = "Tapez 1 pour acquitter, 9 pour escalader maintenant, étoile pour réécouter."


@pytest.fixture
def twilio() -> Iterator[Twilio]:
    with Twilio(PUBLIC_URL) as fake:
        yield fake
    assert fake.refusals == []


@pytest.fixture
def world(build: Builder, service_dir: Path, twilio: Twilio) -> Iterator[World]:
    """Policies ``simple`` and ``double`` page by voice (the primary, then the secondary); alice and bob
    prefer voice. The real twilio provider stands for ``twilio``, its hook served where the fake calls."""
    with voice_world(build, service_dir, twilio) as built:
        yield built


@contextmanager
def voice_world(
    build: Builder, service_dir: Path, twilio: Twilio, calls: Callable[[Calls], Calls] = lambda calls: calls
) -> Iterator[World]:
    """``world``'s set-up; ``calls``: what the twilio provider answers calls with, given the application's."""
    for name in ("simple.yaml", "double.yaml"):
        path = service_dir / "escalation_policies" / name
        text = path.read_text(encoding="utf-8").replace("channels: [sms, email]", "channels: [voice, sms]")
        path.write_text(text.replace("channels: [sms]", "channels: [voice, sms]"), encoding="utf-8")
    main = service_dir / "memoguard.yaml"
    main.write_text(
        main.read_text(encoding="utf-8").replace("language: en, channels: [sms, email]}", "language: en}"),
        encoding="utf-8",
    )
    with ExitStack() as stack:

        def real(app: Application) -> dict[str, Provider]:
            assert app.calls is not None
            provider = TwilioProvider(
                "twilio", settings(twilio), AUTH_TOKEN, PUBLIC_URL, app.replies, app.clock, calls(app.calls)
            )
            served = dataclasses.replace(app, hooks={"twilio": provider.hook})
            twilio.target = stack.enter_context(serving(create_app(served, lambda: True)))
            return {"twilio": provider}

        yield build(VOICE, ("backup", "mailer"), alice="[voice, sms]", real=real)


def _called(w: World, twilio: Twilio, policy: str | None = None) -> tuple[str, Phone]:
    [incident] = w.open("db-1", policy=policy)
    w.settle()
    [call] = twilio.calls
    return incident, Phone(twilio, call)


def test_a_voice_page_places_a_call_with_amd_and_a_status_callback(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio)
    form = dict(phone.call.form)
    url, callback = urlsplit(form.pop("Url")), urlsplit(form.pop("StatusCallback"))
    assert form == {
        "To": ALICE,
        "From": NUMBER,
        "Method": "POST",
        "StatusCallbackMethod": "POST",
        "MachineDetection": "Enable",
        "Timeout": "30",
    }
    assert phone.call.events == ("initiated", "ringing", "answered", "completed")
    row = world.row(incident)
    assert (url.scheme + "://" + url.netloc + url.path) == f"{PUBLIC_URL}/twilio/twilio/voice"
    assert parse_qs(url.query)["n"] == [str(row.id)] and parse_qs(url.query)["a"] == ["1"]
    assert callback.path == "/twilio/twilio/call" and parse_qs(callback.query)["n"] == [str(row.id)]
    assert (row.status, row.channel, row.provider, row.reference) == (SENT, "voice", "twilio", phone.call.sid)
    assert world.providers["backup"].sent == []


def test_the_call_speaks_the_page_in_french_and_asks_for_one_key(world: World, twilio: Twilio) -> None:
    _, phone = _called(world, twilio)

    answer = phone.answer()

    assert (answer.status, answer.content_type) == (200, "text/xml; charset=utf-8")
    assert phone.said == [Said(PAGE_FR, *FR), Said(MENU_FR, *FR)]
    gather = phone.gather
    assert gather is not None and [s.text for s in gather.iter("Say")] == [PAGE_FR, MENU_FR]
    assert {k: gather.attrib[k] for k in ("numDigits", "method", "finishOnKey", "timeout")} == {
        "numDigits": "1",
        "method": "POST",
        "finishOnKey": "",
        "timeout": "6",
    }
    assert urlsplit(gather.attrib["action"]).path == "/twilio/twilio/gather"


def test_key_1_acknowledges_as_the_person_called(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio)
    phone.answer()

    assert phone.press("1").status == 200

    assert phone.said == [Said("Incident 1 acquitté. Merci, au revoir.", *FR)]
    assert phone.hangs_up and phone.gather is None
    found = world.incident(incident)
    assert (found.state, found.acked_by) == (IncidentState.ACKNOWLEDGED, ("alice",))
    [key] = world.timeline(incident, "voice_key")
    assert key.text == f"Call #{world.row(incident).id} to alice via twilio: key 1 pressed by alice"
    with world.app.store.read() as unit:
        [audit] = [a for a in unit.audit(None, 10) if a.action == "ack"]
    assert (audit.person, audit.how, audit.target) == ("alice", "voice key", incident)
    world.clock.advance(timedelta(minutes=6))
    world.app.timers.fire_all_due()
    world.settle()
    assert len(twilio.calls) == 1 and world.providers["backup"].sent == []  # nobody else paged


def test_double_acknowledgement_by_keys_1_then_2(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio, policy="double")
    phone.answer()
    assert "2 pour confirmer la prise en charge" in phone.text

    phone.press("1")
    assert phone.said == [
        Said("Incident 1 acquitté.", *FR),
        Said("Tapez 2 pour confirmer la prise en charge sous 10 minutes.", *FR),
    ]
    assert world.incident(incident).state == IncidentState.ACKNOWLEDGED

    phone.press("2")
    assert phone.said == [Said("Prise en charge de l'incident 1 confirmée. Merci, au revoir.", *FR)]
    found = world.incident(incident)
    assert (found.state, found.confirmed_by) == (IncidentState.CONFIRMED, ("alice",))


def test_key_2_alone_confirms_as_the_state_machine_allows(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio, policy="double")
    phone.answer()
    phone.press("2")
    assert phone.said == [Said("Prise en charge de l'incident 1 confirmée. Merci, au revoir.", *FR)]
    assert world.incident(incident).state == IncidentState.CONFIRMED


def test_star_repeats_and_another_key_says_which_work(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio)
    phone.answer()
    phone.press("*")
    assert [s.text for s in phone.said] == [PAGE_FR, MENU_FR]
    phone.press("5")
    assert [s.text for s in phone.said] == ["Touche non reconnue.", MENU_FR]
    phone.press("#")
    assert [s.text for s in phone.said] == ["Touche non reconnue.", MENU_FR]
    assert world.incident(incident).state == IncidentState.TRIGGERED


def test_key_9_escalates_and_the_secondary_is_called_in_english(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio)
    phone.answer()
    phone.press("9")
    assert phone.said == [Said("Incident 1 escaladé au niveau suivant. Au revoir.", *FR)]
    assert world.incident(incident).step == 1

    phone.press("9", again=True)  # Twilio posting the same key again: the next step is not escalated too
    assert phone.said == [Said("L'incident 1 a déjà quitté ce niveau. Au revoir.", *FR)]
    assert world.incident(incident).step == 1

    world.settle()
    _, second = twilio.calls
    assert second.to == BOB
    bob = Phone(twilio, second)
    bob.answer()
    assert bob.said == [
        Said(
            "This is memoguard. Incident 1, severity critical: disk full on db-1. Escalated on request."
            " Step 2 of 3, acknowledge within 5 minutes.",
            *EN,
        ),
        Said("Press 1 to acknowledge, 9 to escalate now, star to hear this again.", *EN),
    ]


def test_no_key_repeats_the_page_once_then_ends_without_an_acknowledgement(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio)
    phone.answer()
    redirect = phone.silence()
    assert redirect.status == 200 and [s.text for s in phone.said] == [PAGE_FR, MENU_FR]

    phone.silence()
    assert phone.said == [Said("Aucune touche reçue : l'incident 1 n'est pas acquitté. Au revoir.", *FR)]
    assert phone.hangs_up and phone.gather is None
    assert world.incident(incident).state == IncidentState.TRIGGERED
    [entry] = world.timeline(incident, "call_no_key")
    assert entry.text.endswith("no key pressed after the page was said 2 times: not an acknowledgement")


@pytest.mark.parametrize("machine", ["machine_start", "machine_end_beep", "fax"])
def test_a_voicemail_is_never_asked_for_a_key(world: World, twilio: Twilio, machine: str) -> None:
    incident, phone = _called(world, twilio)

    phone.answer(machine)

    assert phone.said == [
        Said(
            "Ici memoguard. Incident 1 : disk full on db-1. Ce message ne vaut pas acquittement ;"
            " rappelez ou répondez au SMS.",
            *FR,
        )
    ]
    assert phone.gather is None and phone.hangs_up
    assert world.incident(incident).state == IncidentState.TRIGGERED
    [entry] = world.timeline(incident, "call_machine")
    assert f"answered by a machine ({machine})" in entry.text


@pytest.mark.parametrize("forgery", ["none", "wrong token", "unsigned notification", "another call"])
def test_a_key_not_signed_by_twilio_or_not_about_this_call_changes_nothing(
    world: World, twilio: Twilio, forgery: str
) -> None:
    incident, phone = _called(world, twilio)
    phone.answer()
    gather = phone.gather
    assert gather is not None
    url = gather.attrib["action"]
    form = {"AccountSid": twilio.account_sid, "CallSid": phone.call.sid, "Digits": "1", "To": ALICE}
    before = world.timeline(incident)
    match forgery:
        case "none":
            answer = twilio.post(url, form, signature=None)
        case "wrong token":
            answer = twilio.post(url, form, token="0" * 32)
        case "unsigned notification":  # signed by Twilio's token, but an id memoguard never signed
            answer = twilio.post(url.replace("n=1&", "n=2&"), form)
        case _:
            answer = twilio.post(url, {**form, "CallSid": "CA" + "0" * 32})
    assert answer.status == (403 if forgery in ("none", "wrong token") else 422)
    assert world.incident(incident).state == IncidentState.TRIGGERED
    assert world.timeline(incident) == before


def test_call_statuses_are_on_the_timeline_and_an_unanswered_call_is_no_acknowledgement(
    world: World, twilio: Twilio
) -> None:
    incident, phone = _called(world, twilio)
    row = world.row(incident)
    for status in ("ringing", "no-answer"):
        answer = phone.status(status)
        assert (answer.status, answer.body) == (200, '<?xml version="1.0" encoding="UTF-8"?><Response/>')
    [entry] = world.timeline(incident, "call_status")
    assert entry.text == f"Call #{row.id} to alice via twilio not answered: not an acknowledgement (no-answer)"
    assert (world.row(incident).status, world.incident(incident).state) == (SENT, IncidentState.TRIGGERED)
    assert world.providers["backup"].sent == []  # no failover: the step's timeout runs as usual


def test_a_failed_call_fails_over_to_the_next_provider(world: World, twilio: Twilio) -> None:
    incident, phone = _called(world, twilio)
    row = world.row(incident)

    assert phone.status("failed", error="32009").status == 200

    failed = world.row(incident)
    assert (failed.status, failed.provider_index) == (PENDING, 1)
    [failover] = world.timeline(incident, "delivery_failover")
    assert failover.text == (
        f"Page #{row.id}: voice to alice via twilio failed (call failed, error 32009); trying backup"
    )
    world.settle()
    assert [m.channel for _, m in world.providers["backup"].sent] == ["voice"]
    assert phone.status("failed", error="32009").status == 200  # Twilio repeating itself: once only
    assert len(world.timeline(incident, "delivery_failover")) == 1


def test_the_readme_shows_what_a_call_says(world: World, twilio: Twilio) -> None:
    """The README's spoken texts are what the templates say (the French call here, the English one above)."""
    _, phone = _called(world, twilio)
    phone.answer()
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    quoted = [
        " ".join(line[2:] for line in block.splitlines()) for block in readme.split("\n\n") if block.startswith("> ")
    ]
    assert phone.text in quoted
    english = (
        "This is memoguard. Incident 1, severity critical: disk full on db-1. Escalated on request."
        " Step 2 of 3, acknowledge within 5 minutes."
        " Press 1 to acknowledge, 9 to escalate now, star to hear this again."
    )
    assert english in quoted
