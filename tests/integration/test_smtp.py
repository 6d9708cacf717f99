"""E-mail pages (issue 16) through a real SMTP server: aiosmtpd on loopback (tests/support/smtpd.py).

What arrives is parsed as a mail client would: both parts in the person's language, the threading
headers that keep an incident in one conversation, the headers filters and vacation responders read.
Through the real dispatcher on the fake clock: a server that says "slow down" then accepts (held, then
sent), one that answers a transient 451 (retried), one that refuses the recipient with 550 (the page
fails over to the person's next channel at once). STARTTLS and implicit TLS with a self-signed
certificate made by openssl for the test, and a login.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from memoguard.adapters.smtp import SmtpProvider
from memoguard.adapters.smtp.errors import THROTTLE_WAIT, reply_error
from memoguard.adapters.template import TemplateRenderer
from memoguard.config.schema import SmtpProvider as SmtpSettings
from memoguard.domain.person import Person
from memoguard.services.action import Verb
from memoguard.services.link import Signer
from memoguard.services.provider import DeliveryError, Message
from tests.conftest import T0, FakeClock
from tests.support.delivery import PENDING, SENT, Builder
from tests.support.smtpd import Handler, free_port, mail_server
from tests.support.tls import self_signed

FROM = "pager@example.net"


def settings(port: int, **extra: Any) -> SmtpSettings:
    fields = {"kind": "smtp", "host": "127.0.0.1", "port": port, "tls": "none", "from": FROM, **extra}
    if "username" in fields:
        fields["password_env"] = "MG_SMTP_UNREAD"  # the password is handed to the provider directly
    return SmtpSettings.model_validate(fields)


def provider(port: int, clock: FakeClock, password: str | None = None, **extra: Any) -> SmtpProvider:
    return SmtpProvider("mail", settings(port, **extra), password, clock, local_hostname="memoguard.test")


def page(person: Person | None, *, incident: str = "12", id: int = 7, purpose: str = "page", **extra: Any) -> Message:
    fields: dict[str, Any] = {
        "id": id,
        "key": f"memoguard-{id}",
        "incident": incident,
        "person": person,
        "channel": "email",
        "purpose": purpose,
        "subject": f"[memoguard #{incident} critical] disk full on <db-1>",
        "text": f"memoguard #{incident} critical: disk full on <db-1>. Step 1/2, acknowledge within 5m. Reply 3a.",
        "created_at": T0,
        "step": 0,
    }
    fields.update(extra)
    return Message(**fields)


BOB = Person("bob", phone="+33612345602", email="bob@example.com", language="en")
ALICE = Person("alice", phone="+33612345601", email="alice@example.com", language="fr")


def parts(mail: EmailMessage) -> tuple[str, str]:
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.iter_parts()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")  # HTML last
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return plain.get_content(), html.get_content()


# --- what arrives ---------------------------------------------------------------------------------------


def test_a_page_arrives_as_text_and_html_in_english_with_its_headers(fake_clock: FakeClock) -> None:
    with mail_server() as (server, port):
        reference = provider(port, fake_clock).send(page(BOB))

    [received] = server.received
    assert (received.sender, received.recipients) == (FROM, ("bob@example.com",))
    mail = received.mail
    assert mail["From"] == f"memoguard <{FROM}>"
    assert mail["To"] == "bob <bob@example.com>"
    assert mail["Subject"] == "[memoguard #12 critical] disk full on <db-1>"
    assert mail["Date"] == "Tue, 17 Nov 2026 10:00:00 +0000"  # the clock's time, not the machine's
    assert mail["Message-ID"] == reference == "<memoguard-7.20261117100000@example.net>"
    assert mail["In-Reply-To"] == "<memoguard-incident-12@example.net>"
    assert mail["References"] == "<memoguard-incident-12@example.net>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["X-Memoguard-Incident"] == "12"
    assert mail["X-Memoguard-Purpose"] == "page"
    plain, html = parts(mail)
    assert plain.startswith("memoguard #12 critical: disk full on <db-1>. Step 1/2, acknowledge within 5m. Reply 3a.\n")
    assert "memoguard, on-call paging (step 1)" in plain
    assert (
        "To acknowledge, send the reply code above by SMS from +33612345602: replies to this e-mail are not read."
        in plain
    )
    assert '<html lang="en">' in html
    assert "disk full on &lt;db-1&gt;" in html  # autoescaped: an alarm's text is never markup
    assert "<db-1>" not in html
    assert "To acknowledge, send the reply code above by SMS from +33612345602" in html


def test_a_page_arrives_in_french_for_a_french_speaker(fake_clock: FakeClock) -> None:
    text = "memoguard #12 critical : disque plein. Niveau 1/2, acquittez sous 5 min. Répondez 3a pour acquitter."
    with mail_server() as (server, port):
        provider(port, fake_clock).send(page(ALICE, text=text))

    plain, html = parts(server.received[0].mail)
    assert plain.startswith(text + "\n")
    assert "memoguard, astreinte (niveau 1)" in plain
    assert "Pour acquitter, envoyez le code de réponse ci-dessus par SMS depuis le +33612345601" in plain
    assert '<html lang="fr">' in html
    assert "Répondez 3a pour acquitter." in html
    assert "les réponses à cet e-mail ne sont pas lues" in html


def test_a_summary_with_line_breaks_and_accents_stays_one_encoded_subject_line(fake_clock: FakeClock) -> None:
    subject = "[memoguard #12 critical] réplication arrêtée\r\nBcc: eve@example.org"
    with mail_server() as (server, port):
        provider(port, fake_clock).send(page(ALICE, subject=subject))

    [received] = server.received
    assert received.recipients == ("alice@example.com",)
    mail = received.mail
    assert mail["Subject"] == "[memoguard #12 critical] réplication arrêtée Bcc: eve@example.org"
    assert mail["Bcc"] is None


def test_every_message_of_an_incident_threads_under_one_root_with_ids_of_its_own(fake_clock: FakeClock) -> None:
    with mail_server() as (server, port):
        mailer = provider(port, fake_clock)
        mailer.send(page(BOB, id=7))
        mailer.send(page(BOB, id=9, purpose="status", step=None, text="memoguard #12: disk full. Resolved."))
        mailer.send(page(BOB, id=8, incident="13"))
        mailer.send(page(BOB, id=7))  # a retry after a lost answer: the same message, the same id

    first, status, other, again = (r.mail for r in server.received)
    assert first["References"] == status["References"] == "<memoguard-incident-12@example.net>"
    assert first["In-Reply-To"] == status["In-Reply-To"] == "<memoguard-incident-12@example.net>"
    assert other["References"] == "<memoguard-incident-13@example.net>"
    assert first["Subject"] == status["Subject"]
    ids = [m["Message-ID"] for m in (first, status, other)]
    assert len(set(ids)) == 3
    assert again["Message-ID"] == first["Message-ID"]
    assert status["X-Memoguard-Purpose"] == "status"
    plain, _ = parts(status)
    assert "Replies to this e-mail are not read." in plain
    assert "To acknowledge" not in plain  # a status asks for nothing


def test_a_bundle_names_and_threads_under_every_incident_it_stands_for(fake_clock: FakeClock) -> None:
    bundle = page(
        ALICE,
        incident="12",
        key="memoguard-bundle-3",
        subject="[memoguard] 3 alarms",
        text="memoguard : 3 alarmes de plus pour vous : #12 critical a ; #13 critical b ; #14 warning c ; Répondez 5a.",
        incidents=("12", "13", "14"),
    )
    with mail_server() as (server, port):
        provider(port, fake_clock).send(bundle)

    mail = server.received[0].mail
    assert mail["In-Reply-To"] == "<memoguard-incident-12@example.net>"
    assert mail["References"] == " ".join(f"<memoguard-incident-{i}@example.net>" for i in (12, 13, 14))
    assert mail["X-Memoguard-Incident"] == "12, 13, 14"
    assert mail["Message-ID"] == "<memoguard-bundle-3.20261117100000@example.net>"
    plain, html = parts(mail)
    assert "Incidents : #12, #13, #14" in plain
    assert "Incidents : #12, #13, #14" in html


def test_a_person_without_an_address_or_an_event_fails_permanently_without_connecting(
    fake_clock: FakeClock,
) -> None:
    mailer = provider(free_port(), fake_clock)  # nothing listens there: a connection attempt would be retryable
    with pytest.raises(DeliveryError) as caught:
        mailer.send(page(Person("dave", phone="+33612345604")))
    assert (caught.value.reason, caught.value.retryable) == ("dave has no e-mail address", False)
    with pytest.raises(DeliveryError) as caught:
        mailer.send(page(None, purpose="webhook"))
    assert not caught.value.retryable


# --- what a refusal means ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "retryable", "retry_after"),
    [
        (421, "4.7.0 Too many messages, slow down", True, THROTTLE_WAIT),
        (451, "4.7.1 Rate limit exceeded, try again later", True, THROTTLE_WAIT),
        (450, "4.2.1 The user you are trying to contact is receiving mail too quickly", True, THROTTLE_WAIT),
        (421, "4.3.2 Service shutting down", True, None),
        (451, "4.3.0 Temporary lookup failure", True, None),
        (452, "4.3.1 Insufficient system storage", True, None),
        (450, "4.2.0 Mailbox busy", True, None),
        (550, "5.1.1 No such user", False, None),
        (553, "5.1.3 Bad recipient address syntax", False, None),
        (554, "5.7.1 Relay access denied", False, None),
        (552, "5.2.2 Quota exceeded", False, None),
    ],
)
def test_each_smtp_reply_code_maps_to_what_the_dispatcher_does(
    code: int, text: str, retryable: bool, retry_after: timedelta | None
) -> None:
    error = reply_error(code, text, "RCPT")
    assert (error.retryable, error.retry_after) == (retryable, retry_after)
    assert error.reason.startswith(f"RCPT: {code} {text}")


def refused(port: int, clock: FakeClock, **extra: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        provider(port, clock, **extra).send(page(BOB))
    return caught.value


def test_a_server_refusing_the_recipient_is_a_permanent_failure_naming_it(fake_clock: FakeClock) -> None:
    with mail_server(["550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"]) as (server, port):
        error = refused(port, fake_clock)
    assert not error.retryable
    assert error.reason == (
        f"smtp 127.0.0.1:{port} refused RCPT bob@example.com: "
        "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"
    )
    assert server.received == []


def test_a_server_that_is_down_is_a_transient_failure(fake_clock: FakeClock) -> None:
    error = refused(free_port(), fake_clock)
    assert error.retryable and error.retry_after is None
    assert "unreachable" in error.reason


# --- through the dispatcher -------------------------------------------------------------------------------

EMAIL_FIRST = """\
channels:
  sms: [console]
  voice: [console]
  email: [mail]
providers:
  console: {kind: console}
  mail: {kind: smtp, host: 127.0.0.1, port: %d, tls: none, from: pager@example.net}
http: {public_url: "https://memoguard.example.org", link_secret_env: MG_TEST_LINK_SECRET}
"""
LINK_SECRET = "a test key that is long enough to sign links"


@pytest.fixture
def smtp_world(build: Builder, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Alice (French) reached by e-mail first, then SMS, with ``rcpt`` the server's scripted answers."""
    monkeypatch.setenv("MG_TEST_LINK_SECRET", LINK_SECRET)

    def make(rcpt: list[str]) -> tuple[Any, Handler]:
        server_context = mail_server(rcpt)
        handler, port = server_context.__enter__()
        opened.append(server_context)
        world = build(
            EMAIL_FIRST % port,
            ("console",),
            alice="[email, sms]",
            real=lambda app: {"mail": provider(port, fake_clock)},
        )
        return world, handler

    opened: list[Any] = []
    yield make
    for context in opened:
        context.__exit__(None, None, None)


def test_a_page_by_email_reaches_the_real_server_through_the_dispatcher(smtp_world: Any) -> None:
    w, server = smtp_world([])
    [incident] = w.open("db-1")
    w.settle()

    [row] = [r for r in w.rows(incident) if r.person == "alice"]
    [received] = server.received
    assert (row.status, row.provider, row.channel) == (SENT, "mail", "email")
    assert received.recipients == ("alice@example.com",)
    mail = received.mail
    assert mail["Subject"] == f"[memoguard #{incident} critical] disk full on db-1"
    assert mail["X-Memoguard-Incident"] == incident
    assert row.reference == mail["Message-ID"]
    plain, _ = parts(mail)
    assert plain.startswith(f"memoguard #{incident} critical : disk full on db-1.")  # the French page text
    assert "Répondez" in plain
    assert w.providers["console"].calls == [] or all(
        m.person and m.person.name != "alice" for _, m in w.providers["console"].calls
    )


def test_a_server_asking_to_slow_down_holds_the_page_then_it_is_sent(smtp_world: Any) -> None:
    w, server = smtp_world(["421 4.7.0 Too many messages, slow down"])
    [incident] = w.open("db-1")
    w.settle()

    [row] = [r for r in w.rows(incident) if r.person == "alice"]
    assert (row.status, row.channel) == (PENDING, "email")
    assert server.received == []
    w.clock.advance(THROTTLE_WAIT)
    w.settle()

    [row] = [r for r in w.rows(incident) if r.person == "alice"]
    assert (row.status, row.provider, row.channel) == (SENT, "mail", "email")
    assert [r.recipients for r in server.received] == [("alice@example.com",)]
    assert server.rcpt_seen == ["alice@example.com"] * 2


def test_a_transient_refusal_is_retried_then_sent(smtp_world: Any) -> None:
    w, server = smtp_world(["451 4.3.0 Temporary lookup failure"])
    [incident] = w.open("db-1")
    w.run()

    [row] = [r for r in w.rows(incident) if r.person == "alice"]
    assert (row.status, row.provider, row.channel, row.attempts) == (SENT, "mail", "email", 1)  # one failure
    assert len(server.received) == 1
    [retry] = [e for e in w.timeline(incident, "delivery_retry") if "alice" in e.text]
    assert "451 4.3.0 Temporary lookup failure" in retry.text


def test_a_refused_recipient_fails_over_to_the_person_s_next_channel_at_once(smtp_world: Any) -> None:
    w, server = smtp_world(["550 5.1.1 User unknown"])
    [incident] = w.open("db-1")
    w.settle()

    rows = [r for r in w.rows(incident) if r.person == "alice"]
    assert [(r.status, r.channel, r.provider) for r in rows][-1] == (SENT, "sms", "console")
    assert server.received == []
    assert server.rcpt_seen == ["alice@example.com"]  # permanent: not tried again
    sms = [m for _, m in w.providers["console"].sent if m.person is not None and m.person.name == "alice"]
    assert len(sms) == 1
    assert w.clock.now() == T0  # at once, not after a backoff


# --- TLS and login ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("smtp-tls"))


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_starttls_with_a_login_hands_the_page_over_encrypted(
    fake_clock: FakeClock, certificate: tuple[Path, Path]
) -> None:
    logins = {"mg": "s3cret"}
    with mail_server(starttls=server_context(certificate), logins=logins) as (server, port):
        mailer = provider(
            port, fake_clock, password="s3cret", tls="starttls", tls_ca=str(certificate[1]), username="mg"
        )
        mailer.send(page(BOB))

    [received] = server.received
    assert (received.tls, received.login) == (True, "mg")


def test_implicit_tls_hands_the_page_over_encrypted(fake_clock: FakeClock, certificate: tuple[Path, Path]) -> None:
    with mail_server(implicit=server_context(certificate)) as (server, port):
        provider(port, fake_clock, tls="implicit", tls_ca=str(certificate[1])).send(page(BOB))
    [received] = server.received
    assert received.tls


def test_a_wrong_password_fails_over_instead_of_retrying(fake_clock: FakeClock, certificate: tuple[Path, Path]) -> None:
    with mail_server(starttls=server_context(certificate), logins={"mg": "s3cret"}) as (server, port):
        error = refused(port, fake_clock, password="wrong", tls="starttls", tls_ca=str(certificate[1]), username="mg")
    assert not error.retryable
    assert "refused the login: 535" in error.reason
    assert server.received == []


def test_an_untrusted_certificate_is_refused(fake_clock: FakeClock, certificate: tuple[Path, Path]) -> None:
    with mail_server(starttls=server_context(certificate)) as (server, port):
        error = refused(port, fake_clock, tls="starttls")  # the system's CAs do not know the test's certificate
    assert not error.retryable
    assert "certificate not trusted" in error.reason
    assert server.received == []


def test_starttls_is_required_when_configured_never_downgraded(fake_clock: FakeClock) -> None:
    with mail_server() as (server, port):  # a server that does not offer STARTTLS
        error = refused(port, fake_clock, tls="starttls")
    assert not error.retryable
    assert "STARTTLS" in error.reason
    assert server.received == []


# --- the README's example ------------------------------------------------------------------------------------


def readme_links(incident: str, person: str, step: int | None, sent: datetime) -> dict[str, str]:
    """The links of a page (what ``EmailLinks.for_page`` gives a single policy), signed with a fixed key."""
    signer = Signer(LINK_SECRET, timedelta(hours=24))
    verbs = (Verb.ACK, Verb.RESOLVE, Verb.ESCALATE)
    return {
        v.value: f"https://memoguard.example.org/email/{signer.sign(incident, person, v, step, sent)}" for v in verbs
    }


@pytest.mark.parametrize(
    ("person", "phone"),
    [(ALICE, "+33612345678"), (Person("david", email="david@example.com", language="en"), "+447400123456")],
)
def test_the_readme_shows_the_text_part_as_rendered(fake_clock: FakeClock, person: Person, phone: str) -> None:
    """The README's two example e-mails are what the page template and the e-mail templates produce."""
    person = Person(person.name, phone=phone, email=person.email, language=person.language)
    context = {
        "id": "42", "summary": "disk full on db-prod", "severity": "critical", "person": person.name,
        "reason": "new", "step": 1, "steps": 2, "ack_within": "10m", "double": False, "confirm_within": None,
        "reack_after": None, "quorum": 1, "bridge": None, "acked_by": [], "confirmed_by": [], "code": "3",
    }  # fmt: skip
    text = TemplateRenderer().render("page", person.language, context).strip()
    with mail_server() as (server, port):
        SmtpProvider(
            "mail", settings(port), None, fake_clock, local_hostname="memoguard.test", links=readme_links
        ).send(page(person, incident="42", text=text))
    plain, _ = parts(server.received[0].mail)
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"```text\n{plain}```" in readme


def test_only_a_page_about_one_incident_carries_links(fake_clock: FakeClock) -> None:
    """A status message asks nothing, and a bundle's links would have to name each incident: neither has any."""
    messages = [page(BOB), page(BOB, purpose="status", id=8), page(BOB, incidents=("12", "13"), id=9)]
    with mail_server() as (server, port):
        mailer = SmtpProvider("mail", settings(port), None, fake_clock, local_hostname="t.test", links=readme_links)
        for message in messages:
            mailer.send(message)
    linked = [("/email/" in parts(r.mail)[0], "/email/" in parts(r.mail)[1]) for r in server.received]
    assert linked == [(True, True), (False, False), (False, False)]
