"""Acknowledging by replying to an e-mail page (issue 16): real SMTP sessions (smtplib) against the
aiosmtpd reply listener, on an application on the fake clock.

A valid reply from the paged person acknowledges; a wrong sender, an automatic reply, a bounce or a
reply that says nothing acts on nothing; an address that is not a valid reply address, and a relay
attempt, are refused at RCPT time.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from memoguard import bootstrap
from memoguard.adapters.smtp import SmtpProvider
from memoguard.adapters.smtp.listener import ReplyListener
from memoguard.adapters.template import TemplateRenderer
from memoguard.domain.incident import IncidentState
from memoguard.http.app import create_app
from memoguard.services.mailreply import IDLE_ANSWERS, Answering, MailReplies
from tests.conftest import FakeClock
from tests.integration.test_http import serving
from tests.integration.test_smtp import EMAIL_FIRST, LINK_SECRET, parts, settings
from tests.support.delivery import Builder, World
from tests.support.smtpd import free_port, mail_server

DOMAIN = "replies.example.org"


@dataclass
class Listening:
    world: World
    replies: MailReplies
    listener: ReplyListener
    port: int
    incident: str

    @property
    def address(self) -> str:
        found = self.replies.address(self.incident, "alice")
        assert found is not None
        return found

    def send(self, mail: EmailMessage, *, sender: str = "alice@example.com", to: str | None = None) -> None:
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            client.send_message(mail, from_addr=sender, to_addrs=[to or self.address])

    def state(self) -> IncidentState:
        return self.world.incident(self.incident).state

    def answers(self) -> list[str]:
        """The texts of the answers e-mailed to replies (sent by the fake ``mail`` provider)."""
        self.world.settle()
        return [m.text for _, m in self.world.providers["mail"].sent if m.purpose == "reply"]


def reply(text: str, *, sender: str = "alice@example.com", **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "pager@example.net"
    mail["Subject"] = "Re: [memoguard #1 critical] disk full on db-1"
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return mail


@pytest.fixture
def listening(build: Builder, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listening]:
    monkeypatch.setenv("MG_TEST_LINK_SECRET", LINK_SECRET)
    world = build(EMAIL_FIRST % 1, ("console", "mail"), alice="[email, sms]")
    [incident] = world.open("db-1")
    world.settle()
    answering = Answering(world.app.store, fake_clock, TemplateRenderer(), ("mail",))
    replies = MailReplies(LINK_SECRET, DOMAIN, world.app.config.people, world.app.actions, answering)
    port = free_port()
    listener = ReplyListener(replies, "127.0.0.1", port)
    listener.start()
    try:
        yield Listening(world, replies, listener, port, incident)
    finally:
        listener.stop()


def test_a_reply_from_the_paged_person_acknowledges(listening: Listening) -> None:
    assert listening.listener.alive
    listening.send(reply("ok\n\n> memoguard #1 critical: disk full on db-1. Reply 1a.\n"))
    assert listening.state() == IncidentState.ACKNOWLEDGED
    [entry] = listening.world.timeline(listening.incident, "acknowledged")
    assert entry.person == "alice" and "via e-mail reply" in entry.text


def test_a_reply_that_fails_to_act_is_deferred_then_acts_when_delivered_again(listening: Listening) -> None:
    # The database refuses the action's audit row: the action rolls back and the listener answers 451 (a
    # temporary failure the sending server retries), never 5xx (a bounce: the acknowledgement lost).
    engine = listening.world.app.store.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit RENAME TO audit_away"))
    try:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            listening.send(reply("1a"))
        assert caught.value.smtp_code == 451
        assert listening.state() == IncidentState.TRIGGERED
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE audit_away RENAME TO audit"))
    listening.send(reply("1a"))  # the sending server's next attempt
    assert listening.state() == IncidentState.ACKNOWLEDGED


def test_the_first_unquoted_line_is_read_with_the_sms_grammar(listening: Listening) -> None:
    listening.send(reply("\n> quoted 1a first\n  1r  \nthanks"))
    assert listening.state() == IncidentState.RESOLVED


@pytest.mark.parametrize(
    ("mail", "sender", "answer"),
    [
        # not the paged person: she is told at her own address, never the sender at his
        (reply("ok", sender="mallory@example.com"), "mallory@example.com", "une réponse de mallory@example.com a été"),
        (reply("ok", Auto_Submitted="auto-replied"), "alice@example.com", None),  # an out-of-office
        (reply("ok", X_Autoreply="yes"), "alice@example.com", None),
        (reply("ok", Precedence="bulk"), "alice@example.com", None),
        (reply("ok"), "", None),  # a bounce: empty MAIL FROM
        # says nothing the grammar knows
        (reply("I am on holiday until Monday"), "alice@example.com", "« I am on holiday until Monday » n'a pas été"),
    ],
    ids=["wrong-sender", "auto-submitted", "x-autoreply", "precedence", "bounce", "not-a-command"],
)
def test_a_reply_that_must_not_act_is_noted_and_answered_unless_automatic(
    listening: Listening, mail: EmailMessage, sender: str, answer: str | None
) -> None:
    listening.send(mail, sender=sender)  # alice reads French
    assert listening.state() == IncidentState.TRIGGERED
    assert listening.world.timeline(listening.incident, "acknowledged") == []
    [outcome] = listening.listener.handler.outcomes
    assert not outcome.acted and outcome.why.startswith("ignored")
    [entry] = listening.world.timeline(listening.incident, "email_reply")
    assert entry.person == "alice" and "ignored" in entry.text, entry.text
    answers = listening.answers()
    if answer is None:  # an automatic message is never answered: that is how mail loops start
        assert answers == []
    else:
        [text] = answers
        assert answer in text and text.startswith(f"memoguard #{listening.incident}"), text
        [(_, sent)] = [(t, m) for t, m in listening.world.providers["mail"].sent if m.purpose == "reply"]
        assert sent.person is not None and sent.person.name == "alice"


def test_a_refused_reply_is_answered_and_unusable_answers_are_limited_per_hour(listening: Listening) -> None:
    listening.send(reply("1r"))
    listening.send(reply("1a"))  # too late: refused, and she is told who resolved it
    assert listening.state() == IncidentState.RESOLVED
    [text] = listening.answers()
    assert "déjà résolu par alice" in text, text
    for _ in range(IDLE_ANSWERS):  # the last one past the budget
        listening.send(reply("what?"))
    assert len(listening.answers()) == IDLE_ANSWERS  # the refusal counted too: the rest are not answered
    [unanswered] = listening.world.timeline(listening.incident, "email_reply_unanswered")
    assert "No answer sent to alice" in unanswered.text
    assert len(listening.world.timeline(listening.incident, "email_reply")) == IDLE_ANSWERS + 2


def test_an_acting_reply_is_on_the_timeline_and_not_answered(listening: Listening) -> None:
    listening.send(reply("1a"))
    [entry] = listening.world.timeline(listening.incident, "email_reply")
    assert entry.text == "E-mail reply from alice (alice@example.com): '1a': ack", entry.text
    assert listening.answers() == []
    listening.send(reply("ok"))  # once more: already done, and she is told so
    [text] = listening.answers()
    assert "déjà acquitté par vous" in text, text  # alice reads French


def test_a_delivery_report_is_ignored(listening: Listening) -> None:
    mail = reply("ok")
    mail.make_mixed()
    mail.replace_header("Content-Type", 'multipart/report; report-type=delivery-status; boundary="b"')
    listening.send(mail)
    assert listening.state() == IncidentState.TRIGGERED


@pytest.mark.parametrize(
    "recipient",
    [
        "someone@elsewhere.example.com",  # a relay attempt
        f"alice@{DOMAIN}",
        f"memoguard+1=alice=aaaaaaaaaaaaaaaa@{DOMAIN}",  # a forged MAC
        "ADDRESS-FOR-ANOTHER-INCIDENT",
        "ADDRESS-ON-ANOTHER-DOMAIN",
    ],
)
def test_anything_but_a_valid_reply_address_is_refused_at_rcpt(listening: Listening, recipient: str) -> None:
    if recipient == "ADDRESS-FOR-ANOTHER-INCIDENT":
        recipient = listening.address.replace(f"+{listening.incident}=", f"+{listening.incident}9=")
    elif recipient == "ADDRESS-ON-ANOTHER-DOMAIN":
        recipient = listening.address.replace(DOMAIN, "example.com")
    with smtplib.SMTP("127.0.0.1", listening.port, timeout=10) as client:
        client.ehlo()
        client.mail("alice@example.com")
        code, text = client.rcpt(recipient)
    assert code == 550 and b"not a relay" in text
    assert listening.state() == IncidentState.TRIGGERED
    assert listening.listener.handler.outcomes == []


def test_the_address_tolerates_a_lowercased_local_part(listening: Listening) -> None:
    listening.send(reply("a"), to=listening.address.upper().replace(DOMAIN.upper(), DOMAIN))
    assert listening.state() == IncidentState.ACKNOWLEDGED


# --- end to end, as serve wires it -----------------------------------------------------------------------


def test_alarm_email_reply_acknowledges_and_readyz_follows_the_listener(
    build: Builder, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alarm pages Alice by e-mail (the aiosmtpd test server receives it); its Reply-To is her reply
    address; her reply "1a" through the listener serve starts acknowledges; /readyz is unready while
    the listener is not running."""
    monkeypatch.setenv("MG_TEST_LINK_SECRET", LINK_SECRET)
    port = free_port()
    replies_at = f", reply_listen: '127.0.0.1:{port}', reply_domain: {DOMAIN}}}"
    with mail_server() as (server, smtp_port):
        config = EMAIL_FIRST.replace(
            "link_secret_env: MG_TEST_LINK_SECRET}", "link_secret_env: MG_TEST_LINK_SECRET" + replies_at
        )

        def real(app: Any) -> dict[str, Any]:
            assert app.mail_replies is not None and app.links is not None
            mailer = SmtpProvider(
                "mail",
                settings(smtp_port),
                None,
                fake_clock,
                local_hostname="memoguard.test",
                links=app.links.for_page,
                reply_to=app.mail_replies.address,
            )
            return {"mail": mailer}

        world = build(config % smtp_port, ("console",), alice="[email, sms]", real=real)
        [incident] = world.open("db-1")
        world.settle()
        [received] = server.received
    reply_to = str(received.mail["Reply-To"])
    assert reply_to.startswith(f"memoguard+{incident}=alice=") and reply_to.endswith(f"@{DOMAIN}")
    plain, _ = parts(received.mail)
    assert "répondez à cet e-mail" in plain

    listener = bootstrap.reply_listener(world.app)
    assert listener is not None
    with serving(create_app(world.app, lambda: True)) as base:
        unready = httpx.get(f"{base}/readyz")
        assert unready.status_code == 503
        assert "the e-mail reply listener is not running" in unready.json()["problems"]
        listener.start()
        try:
            assert httpx.get(f"{base}/readyz").status_code == 200
            answer = reply("1a\n\n> memoguard #1 critical: disk full on db-1.\n")
            answer["In-Reply-To"] = str(received.mail["Message-ID"])
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.send_message(answer, from_addr="alice@example.com", to_addrs=[reply_to])
        finally:
            listener.stop()
    assert world.incident(incident).state == IncidentState.ACKNOWLEDGED
    [entry] = world.timeline(incident, "acknowledged")
    assert "via e-mail reply" in entry.text
    [row] = [r for r in world.rows(incident) if r.person == "alice"]
    assert row.channel == "email"
