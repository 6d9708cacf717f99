"""The twilio provider against the fake Twilio of tests/support/twilio.py (a real HTTP server on loopback),
with memoguard's real HTTP application serving the webhooks (uvicorn, as in test_http.py).

Pages go out through Twilio's Messages API as its reference requires (the fake refuses anything else);
Twilio's refusals map onto the dispatcher's contract; status callbacks and replies come back signed as
Twilio signs them, through the routes of http/twilio.py and the real signature check, and do what SMPP
receipts and replies do. The public URL is not where memoguard listens, as behind a reverse proxy: the
signature covers the public URL. The database runs on the fake clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest

from memoguard.adapters.twilio import TwilioProvider
from memoguard.config.schema import TwilioProvider as TwilioSettings
from memoguard.domain.incident import IncidentState
from memoguard.domain.person import Person
from memoguard.http.app import create_app
from memoguard.services.application import Application
from memoguard.services.provider import DeliveryError, Message, Provider
from memoguard.services.record import NotificationStatus
from tests.conftest import T0, FakeClock
from tests.integration.test_http import serving
from tests.support.delivery import PENDING, SENT, Builder
from tests.support.twilio import AUTH_TOKEN, NUMBER, Twilio

PUBLIC_URL = "https://memoguard.example.net"
ALICE = "+33612345601"
FAILED = NotificationStatus.FAILED

# The fake Twilio is given the name of a console provider in the configuration; the dispatcher gets a
# real twilio provider under that name instead.
TWILIO_THEN_BACKUP = """\
channels:
  sms: [twilio, backup]
  voice: [backup]
  email: [mailer]
providers:
  twilio: {kind: console}
  backup: {kind: console}
  mailer: {kind: console}
"""


def settings(twilio: Twilio, **changes: Any) -> TwilioSettings:
    document: dict[str, Any] = {
        "kind": "twilio",
        "account_sid": twilio.account_sid,
        "auth_token_env": "UNUSED",
        "from": NUMBER,
        "api_base_url": twilio.url,
        "timeout": "5s",
    }
    document |= changes
    return TwilioSettings.model_validate({k: v for k, v in document.items() if v is not None})


@pytest.fixture
def twilio() -> Iterator[Twilio]:
    with Twilio(PUBLIC_URL) as fake:
        yield fake
    assert fake.refusals == []  # every request memoguard made was one Twilio's reference allows


Link = Callable[[Application], Mapping[str, Provider]]


@pytest.fixture
def link(twilio: Twilio) -> Iterator[Link]:
    """Builds the real provider for the world's dispatcher and serves the world's application, its hook
    wired, where the fake Twilio delivers its webhooks."""
    with ExitStack() as stack:

        def build(app: Application) -> Mapping[str, Provider]:
            provider = TwilioProvider("twilio", settings(twilio), AUTH_TOKEN, PUBLIC_URL, app.replies, app.clock)
            served = dataclasses.replace(app, hooks={"twilio": provider.hook})
            twilio.target = stack.enter_context(serving(create_app(served, lambda: True)))
            return {"twilio": provider}

        yield build


def page(person: Person | None = None, text: str = "disk full on db-1") -> Message:
    alice = Person("alice", phone=ALICE, language="fr")
    return Message(1, "k1", "1", person or alice, "sms", "page", "s", text, T0)


# --- sending --------------------------------------------------------------------------------------------


def test_a_page_goes_out_through_the_messages_api_with_a_status_callback(
    build: Builder, twilio: Twilio, link: Link
) -> None:
    w = build(TWILIO_THEN_BACKUP, ("backup", "mailer"), real=link)
    [incident] = w.open("db-1")
    w.settle()

    [sent] = twilio.messages
    assert dict(sent.form) == {
        "To": ALICE,
        "From": NUMBER,
        "Body": sent.body,
        "StatusCallback": f"{PUBLIC_URL}/twilio/twilio/status",
    }
    assert "1a" in sent.body
    row = w.row(incident)
    assert (row.status, row.provider, row.reference) == (SENT, "twilio", sent.sid)


def test_a_messaging_service_sends_instead_of_a_number(twilio: Twilio, fake_clock: FakeClock) -> None:
    service = "MG" + "ab" * 16
    provider = TwilioProvider(
        "twilio",
        settings(twilio, messaging_service_sid=service, **{"from": None}),
        AUTH_TOKEN,
        PUBLIC_URL,
        _NoInbox(),
        fake_clock,
    )
    sid = provider.send(page())
    [sent] = twilio.messages
    assert sent.sid == sid
    assert sent.form["MessagingServiceSid"] == service and "From" not in sent.form


# Twilio's answer -> (retryable, retry_after): Alertmanager's RetryTests, one row per case.
REFUSALS = [
    pytest.param(429, 20429, "7", True, timedelta(seconds=7), id="429-retry-after"),
    pytest.param(429, None, None, True, timedelta(seconds=1), id="429-no-retry-after"),
    pytest.param(400, 20429, None, True, timedelta(seconds=1), id="20429"),
    pytest.param(503, None, "30", True, timedelta(seconds=30), id="503-retry-after"),
    pytest.param(503, None, None, True, None, id="503"),
    pytest.param(500, 20500, None, True, None, id="500"),
    pytest.param(400, 21211, None, False, None, id="21211-invalid-to"),
    pytest.param(400, 21614, None, False, None, id="21614-not-a-mobile"),
    pytest.param(400, 21610, None, False, None, id="21610-opted-out"),
    pytest.param(400, 30003, None, False, None, id="30003-unreachable"),
    pytest.param(400, 21620, None, True, None, id="other-code"),
]


@pytest.mark.parametrize(("status", "code", "wait", "retryable", "retry_after"), REFUSALS)
def test_twilio_refusals_map_onto_the_dispatchers_contract(
    twilio: Twilio,
    fake_clock: FakeClock,
    status: int,
    code: int | None,
    wait: str | None,
    retryable: bool,
    retry_after: timedelta | None,
) -> None:
    provider = TwilioProvider("twilio", settings(twilio), AUTH_TOKEN, PUBLIC_URL, _NoInbox(), fake_clock)
    twilio.fail(status, code, retry_after=wait)

    with pytest.raises(DeliveryError) as caught:
        provider.send(page())

    assert (caught.value.retryable, caught.value.retry_after) == (retryable, retry_after)
    assert f"HTTP {status}" in caught.value.reason and caught.value.reason.startswith("twilio: Twilio refused")
    assert twilio.messages == []


def test_twilio_out_of_reach_may_work_later(fake_clock: FakeClock) -> None:
    with Twilio(PUBLIC_URL) as gone:
        document = settings(gone)
    provider = TwilioProvider("twilio", document, AUTH_TOKEN, PUBLIC_URL, _NoInbox(), fake_clock)
    with pytest.raises(DeliveryError) as caught:
        provider.send(page())
    assert caught.value.retryable and caught.value.retry_after is None
    assert caught.value.reason.startswith("twilio: Twilio could not be reached (ConnectionError")


@pytest.mark.parametrize(
    ("person", "why"),
    [
        (Person("dave"), "dave has no phone number"),
        (Person("dave", phone="0612345678"), "dave's phone '0612345678' is not an E.164 number"),
    ],
)
def test_a_number_twilio_cannot_take_fails_at_once(
    twilio: Twilio, fake_clock: FakeClock, person: Person, why: str
) -> None:
    provider = TwilioProvider("twilio", settings(twilio), AUTH_TOKEN, PUBLIC_URL, _NoInbox(), fake_clock)
    with pytest.raises(DeliveryError) as caught:
        provider.send(page(person))
    assert (caught.value.reason, caught.value.retryable) == (f"twilio: {why}", False)
    with pytest.raises(DeliveryError) as long:
        provider.send(page(text="x" * 1601))
    assert long.value.reason == "twilio: the text has 1601 characters, Twilio takes at most 1600"
    assert twilio.messages == []


def test_a_slow_down_holds_the_provider_and_loses_nothing(build: Builder, twilio: Twilio, link: Link) -> None:
    w = build(TWILIO_THEN_BACKUP, ("backup", "mailer"), real=link)
    twilio.fail(429, 20429, retry_after="20")
    [incident] = w.open("db-1")
    w.settle()
    row = w.row(incident)
    assert (row.status, row.provider_index, row.not_before) == (PENDING, 0, w.clock.now() + timedelta(seconds=20))
    assert twilio.messages == [] and w.providers["backup"].sent == []

    w.clock.advance(timedelta(seconds=20))
    w.settle()
    [sent] = twilio.messages
    assert w.row(incident).reference == sent.sid


# --- status callbacks --------------------------------------------------------------------------------


def test_status_callbacks_land_on_the_notification_and_the_timeline(build: Builder, twilio: Twilio, link: Link) -> None:
    w = build(TWILIO_THEN_BACKUP, ("backup", "mailer"), real=link)
    [incident] = w.open("db-1")
    w.settle()
    [sent] = twilio.messages

    for status in ("queued", "sent", "delivered"):
        answer = twilio.status(sent.sid, status)
        assert (answer.status, answer.content_type) == (200, "text/xml; charset=utf-8")
        assert answer.body == '<?xml version="1.0" encoding="UTF-8"?><Response/>'

    row = w.row(incident)
    assert (row.status, row.receipt) == (SENT, "DELIVRD")
    # "sent" after "queued" says nothing new (both ENROUTE): as with SMPP, only what says more is kept.
    assert [e.text for e in w.timeline(incident, "delivery_receipt")] == [
        f"Page #{row.id} to alice in progress (ENROUTE), receipt from twilio",
        f"Page #{row.id} to alice delivered (DELIVRD), receipt from twilio",
    ]


@pytest.mark.parametrize(("status", "state"), [("undelivered", "UNDELIV"), ("failed", "REJECTD")])
def test_an_undelivered_or_failed_sms_fails_over_to_the_next_provider(
    build: Builder, twilio: Twilio, link: Link, status: str, state: str
) -> None:
    w = build(TWILIO_THEN_BACKUP, ("backup", "mailer"), real=link)
    [incident] = w.open("db-1")
    w.settle()
    [sent] = twilio.messages

    assert twilio.status(sent.sid, status, "30003").status == 200

    row = w.row(incident)
    assert (row.status, row.provider_index, row.receipt) == (PENDING, 1, state)
    [failover] = w.timeline(incident, "delivery_failover")
    assert failover.text == (
        f"Page #{row.id}: sms to alice via twilio failed (receipt {state}, error 30003); trying backup"
    )
    w.settle()
    assert [m.id for _, m in w.providers["backup"].sent] == [row.id]
    assert w.incident(incident).state == IncidentState.TRIGGERED


# --- replies ----------------------------------------------------------------------------------------------


def test_a_reply_acknowledges_and_is_answered_through_twilio(build: Builder, twilio: Twilio, link: Link) -> None:
    w = build(TWILIO_THEN_BACKUP, ("backup", "mailer"), real=link)
    [incident] = w.open("db-1")
    w.settle()

    answer = twilio.inbound("/twilio/twilio/sms", ALICE, "1a")

    assert (answer.status, answer.body) == (200, '<?xml version="1.0" encoding="UTF-8"?><Response/>')
    assert w.incident(incident).acked_by == ("alice",)
    [reply] = w.timeline(incident, "sms_reply")
    assert reply.text == f"SMS reply from alice ({ALICE}) via twilio: '1a'"
    w.settle()
    _, answered = twilio.messages
    assert (answered.to, answered.body) == (ALICE, f"memoguard #{incident} acquitté. Répondez 1r une fois résolu.")
    assert w.providers["backup"].sent == []


# --- signatures -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("forgery", ["none", "wrong token", "the Host URL", "a field added", "garbage"])
def test_a_request_not_signed_by_twilio_is_refused_and_changes_nothing(
    build: Builder, twilio: Twilio, link: Link, forgery: str
) -> None:
    w = build(TWILIO_THEN_BACKUP, ("backup", "mailer"), real=link)
    [incident] = w.open("db-1")
    w.settle()
    [sent] = twilio.messages
    url = f"{PUBLIC_URL}/twilio/twilio/sms"
    form = {"AccountSid": twilio.account_sid, "MessageSid": sent.sid, "From": ALICE, "To": NUMBER, "Body": "1a"}
    before = w.timeline(incident)

    signature: str | bool | None
    match forgery:
        case "none":
            signature = None
        case "wrong token":
            signature = twilio.sign(url, form, token="0" * 32)
        case "the Host URL":  # what a server that trusts the Host header would check
            assert twilio.target is not None
            signature = twilio.sign(twilio.target + "/twilio/twilio/sms", form)
        case "a field added":
            signature = twilio.sign(url, form)
            form = {**form, "Body": "1r"}
        case _:
            signature = "not base64 at all"
    answer = twilio.post(url, form, signature=signature)

    assert answer.status == 403
    assert answer.json() == {
        "detail": [
            {
                "loc": ["header", "x-twilio-signature"],
                "msg": "missing or wrong X-Twilio-Signature for this provider's auth token and public URL",
                "type": "forbidden",
            }
        ]
    }
    assert w.incident(incident).state == IncidentState.TRIGGERED
    assert w.timeline(incident) == before
    assert twilio.status(sent.sid, "delivered", token="0" * 32).status == 403
    assert w.row(incident).receipt is None


def test_a_webhook_for_no_twilio_provider_is_404(build: Builder, twilio: Twilio, link: Link) -> None:
    build(TWILIO_THEN_BACKUP, ("backup", "mailer"), real=link)
    answer = twilio.inbound("/twilio/backup/sms", ALICE, "1a")
    assert answer.status == 404
    assert answer.json() == {
        "detail": [{"loc": ["path", "provider"], "msg": "no twilio provider 'backup'", "type": "not_found"}]
    }


class _NoInbox:
    def receipt(self, receipt: object) -> None:
        raise AssertionError("nothing is received here")

    def reply(self, message: object) -> None:
        raise AssertionError("nothing is received here")
