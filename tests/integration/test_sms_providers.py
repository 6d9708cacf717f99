"""SMPP and Twilio behave identically: one table of replies, run against both real providers.

For each provider, the dispatcher pages alice through it (a real SMPP link to the test SMSC of
tests/support/smsc.py; the twilio provider against the fake Twilio of tests/support/twilio.py, its
webhooks served by the real HTTP application), then alice's replies come in by that provider's own way
(a deliver_sm; a signed webhook) and each must do the same thing to the incident and get the same answer,
sent back through the provider the reply came in by. The database runs on the fake clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Protocol

import pytest

from memoguard.adapters.smpp import SmppProvider
from memoguard.adapters.storage.parts import SqlSmsParts
from memoguard.adapters.storage.store import SqlStore
from memoguard.adapters.twilio import TwilioProvider
from memoguard.domain.incident import IncidentState
from memoguard.http.app import create_app
from memoguard.services.application import Application
from memoguard.services.provider import Provider
from tests.integration.test_http import serving
from tests.integration.test_smpp import PASSWORD
from tests.integration.test_smpp import settings as smpp_settings
from tests.integration.test_twilio import PUBLIC_URL
from tests.integration.test_twilio import settings as twilio_settings
from tests.support.delivery import Builder
from tests.support.smsc import Smsc, Submit, whole_text
from tests.support.twilio import AUTH_TOKEN, Twilio

ALICE = "+33612345601"  # on call for ops (primary), reads French
STRANGER = "+33699999999"
DELIVERY = """\
channels:
  sms: [pager]
  voice: [pager]
  email: [pager]
providers:
  pager: {kind: console}
"""

TRIGGERED, ACKNOWLEDGED, RESOLVED = IncidentState.TRIGGERED, IncidentState.ACKNOWLEDGED, IncidentState.RESOLVED

# (who, what they text) -> (the incident's state after, the answer they get: None for none); {id} is the incident.
TABLE = [
    (STRANGER, "1a", TRIGGERED, None),
    (
        ALICE,
        "bof",
        TRIGGERED,
        'memoguard : "bof" non compris. Répondez avec le code du message : 3a acquitter, '
        "3c confirmer, 3r résoudre, 3e escalader.",
    ),
    (
        ALICE,
        "7a",
        TRIGGERED,
        "memoguard : aucun incident avec le code 7 pour ce numéro. Ouverts : 1 (#{id} disk full on db-1).",
    ),
    (ALICE, "1a", ACKNOWLEDGED, "memoguard #{id} acquitté. Répondez 1r une fois résolu."),
    (ALICE, "ok 1", ACKNOWLEDGED, "memoguard #{id} : déjà acquitté par vous."),
    (ALICE, "RES 1.", RESOLVED, "memoguard #{id} résolu."),
    # The fourth answer within the hour to a reply that did nothing (not understood, unknown code, already
    # done, closed) is not sent: a phone stuck in an auto-reply loop cannot run up a bill.
    (ALICE, "1e", RESOLVED, None),
]


class Network(Protocol):
    """One provider's network, as a phone and as the tests see it."""

    def provider(self, app: Application) -> Provider: ...

    def text(self, sender: str, body: str) -> None: ...

    def received(self, phone: str) -> list[str]:
        """Every text the network took for ``phone``, whole, in order."""
        ...


class SmppNetwork:
    def __init__(self, smsc: Smsc, stack: ExitStack) -> None:
        self._smsc = smsc
        self._stack = stack

    def provider(self, app: Application) -> Provider:
        store = app.store
        assert isinstance(store, SqlStore)
        link = SmppProvider("pager", smpp_settings(self._smsc), PASSWORD, app.replies, app.clock, SqlSmsParts(store))
        self._stack.callback(link.close)
        return link

    def text(self, sender: str, body: str) -> None:
        assert self._smsc.deliver(body, sender=sender.removeprefix("+")) == [0]

    def received(self, phone: str) -> list[str]:
        texts: dict[tuple[str, int], list[Submit]] = {}
        for submit in self._smsc.submits:
            if submit.destination_addr == phone.removeprefix("+") and submit.message_id is not None:
                key = (submit.session, submit.concat.reference if submit.concat else -submit.number)
                texts.setdefault(key, []).append(submit)
        return [whole_text(parts) for parts in texts.values()]


class TwilioNetwork:
    def __init__(self, twilio: Twilio, stack: ExitStack) -> None:
        self._twilio = twilio
        self._stack = stack

    def provider(self, app: Application) -> Provider:
        provider = TwilioProvider(
            "pager", twilio_settings(self._twilio), AUTH_TOKEN, PUBLIC_URL, app.replies, app.clock
        )
        served = dataclasses.replace(app, hooks={"pager": provider.hook})
        self._twilio.target = self._stack.enter_context(serving(create_app(served, lambda: True)))
        return provider

    def text(self, sender: str, body: str) -> None:
        assert self._twilio.inbound("/twilio/pager/sms", sender, body).status == 200

    def received(self, phone: str) -> list[str]:
        return [m.body for m in self._twilio.messages if m.to == phone]


@pytest.fixture(params=["smpp", "twilio"])
def network(request: pytest.FixtureRequest) -> Iterator[Network]:
    with ExitStack() as stack:
        if request.param == "smpp":
            yield SmppNetwork(stack.enter_context(Smsc(password=PASSWORD)), stack)
        else:
            twilio = stack.enter_context(Twilio(PUBLIC_URL))
            yield TwilioNetwork(twilio, stack)
            assert twilio.refusals == []


def test_replies_do_the_same_by_smpp_and_by_twilio(build: Builder, network: Network) -> None:
    w = build(DELIVERY, (), real=lambda app: {"pager": network.provider(app)})
    [incident] = w.open("db-1", policy="quiet")
    w.settle()
    [page] = network.received(ALICE)
    assert page.endswith("Répondez 1a pour acquitter.")

    for sender, body, state, answer in TABLE:
        before = len(network.received(sender))
        network.text(sender, body)
        w.settle()
        assert (body, w.incident(incident).state) == (body, state)
        got = network.received(sender)[before:]
        assert (body, got) == (body, [answer.format(id=incident)] if answer else [])
        w.clock.advance(timedelta(minutes=3))  # past the window where the same text is taken as a redelivery
    replies = [e.person for e in w.timeline(incident, "sms_reply")]
    assert replies == ["alice"] * (len(TABLE) - 1)  # all but the stranger's
