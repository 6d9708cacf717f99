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

import pytest

from memoguard.adapters.smtp.listener import ReplyListener
from memoguard.domain.incident import IncidentState
from memoguard.services.mailreply import MailReplies
from tests.integration.test_smtp import EMAIL_FIRST, LINK_SECRET
from tests.support.delivery import Builder, World
from tests.support.smtpd import free_port

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
def listening(build: Builder, monkeypatch: pytest.MonkeyPatch) -> Iterator[Listening]:
    monkeypatch.setenv("MG_TEST_LINK_SECRET", LINK_SECRET)
    world = build(EMAIL_FIRST % 1, ("console", "mail"), alice="[email, sms]")
    [incident] = world.open("db-1")
    world.settle()
    replies = MailReplies(LINK_SECRET, DOMAIN, world.app.config.people, world.app.actions)
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


def test_the_first_unquoted_line_is_read_with_the_sms_grammar(listening: Listening) -> None:
    listening.send(reply("\n> quoted 1a first\n  1r  \nthanks"))
    assert listening.state() == IncidentState.RESOLVED


@pytest.mark.parametrize(
    ("mail", "sender"),
    [
        (reply("ok", sender="mallory@example.com"), "mallory@example.com"),  # not the paged person
        (reply("ok", Auto_Submitted="auto-replied"), "alice@example.com"),  # an out-of-office
        (reply("ok", X_Autoreply="yes"), "alice@example.com"),
        (reply("ok", Precedence="bulk"), "alice@example.com"),
        (reply("ok"), ""),  # a bounce: empty MAIL FROM
        (reply("I am on holiday until Monday"), "alice@example.com"),  # says nothing the grammar knows
    ],
    ids=["wrong-sender", "auto-submitted", "x-autoreply", "precedence", "bounce", "not-a-command"],
)
def test_a_reply_that_must_not_act_changes_nothing(listening: Listening, mail: EmailMessage, sender: str) -> None:
    before = listening.world.app.incidents.show(listening.incident)
    listening.send(mail, sender=sender)
    assert listening.world.app.incidents.show(listening.incident) == before
    assert listening.state() == IncidentState.TRIGGERED
    [outcome] = listening.listener.handler.outcomes
    assert not outcome.acted and outcome.why.startswith("ignored")


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
