"""One notification as an e-mail: headers that thread and label it, and a plain-text part with an HTML
alternative, both rendered from ``memoguard/templates/email.{LANG}.{txt,html}``.

The page's words are already rendered (the same text the SMS carries, in the person's language, with
its reply code); the e-mail templates frame them. The HTML environment autoescapes, so an alarm summary
such as ``<script>`` reaches the reader as text; both are StrictUndefined, so a template naming a value
the context lacks fails the message (permanently) instead of mailing a blank.

Threading needs no stored state (PROVIDERS.md lesson 5, after Alertmanager's email threading): every
message of incident 12 carries ``In-Reply-To``/``References: <memoguard-incident-12@DOMAIN>``, a root
derived from the incident id and the sender's domain. No message has that id itself: the first page of
an incident goes to several people, is retried and repeated, and a Message-ID sent twice makes some
mailboxes drop the second copy. Mail clients that thread by headers (Thunderbird, notmuch, Apple Mail)
gather all of them under the missing root; Gmail also needs the stable subject, which is the
incident's for every message. Each message's own Message-ID is derived from its notification (id and
creation time), so a retry after a lost answer carries the same id and a receiving server or client
can drop the duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError, TemplateNotFound, select_autoescape

from memoguard.services.provider import DeliveryError, Message

INCIDENT_HEADER = "X-Memoguard-Incident"
PURPOSE_HEADER = "X-Memoguard-Purpose"
# Purposes whose text asks for an answer (the reply code of a page or a bundle).
ANSWERABLE = frozenset({"page"})


class EmailRenderer:
    """The e-mail templates: ``email.LANG.txt`` (plain text) and ``email.LANG.html`` (autoescaped)."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("memoguard", "templates"),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(self, language: str, extension: str, context: Mapping[str, Any]) -> str:
        try:
            template = self._env.get_template(f"email.{language}.{extension}")
        except TemplateNotFound:
            template = self._env.get_template(f"email.en.{extension}")
        return template.render(**context)


def root_id(incident: str, domain: str) -> str:
    """The Message-ID every message of ``incident`` replies to (no message is sent with it)."""
    return f"<memoguard-incident-{incident}@{domain}>"


def message_id(message: Message, domain: str) -> str:
    """This notification's Message-ID, the same on every attempt (its key and creation time, so a
    database started afresh, whose ids start again at 1, does not reuse the ids of old messages)."""
    return f"<{message.key}.{message.created_at:%Y%m%d%H%M%S}@{domain}>"


# The acknowledgement links of one page, by verb (services/link.py ``EmailLinks.for_page``).
Links = Callable[[str, str, "int | None", datetime], dict[str, str]]


def _links(links: Links | None, message: Message) -> dict[str, str]:
    if links is None or message.person is None:
        return {}
    try:
        return links(message.incident, message.person.name, message.step, message.created_at)
    except Exception:  # the database unreachable for a moment: the page goes out without links, not late
        return {}


# The Reply-To of a page to one person about one incident (services/mailreply.py ``MailReplies.address``).
ReplyTo = Callable[[str, str], "str | None"]


def build(
    message: Message,
    sender: Address,
    renderer: EmailRenderer,
    date: str,
    links: Links | None = None,
    reply_to: ReplyTo | None = None,
) -> EmailMessage:
    """The e-mail for ``message`` from ``sender``; ``date`` is the Date header (RFC 5322 format).

    Raises a permanent DeliveryError when it cannot be built: the same message would fail the same way
    on every attempt (no address, an address or a template that does not work)."""
    person = message.person
    if person is None:
        raise DeliveryError(f"message {message.id}: e-mail needs a person, this is an incident event", retryable=False)
    if not person.email:
        raise DeliveryError(f"{person.name} has no e-mail address", retryable=False)
    domain = sender.domain
    incidents = message.incidents or ((message.incident,) if message.incident else ())  # a sign-in code: none
    single_page = message.purpose in ANSWERABLE and len(incidents) == 1
    reply_address = reply_to(message.incident, person.name) if reply_to is not None and single_page else None
    context = {
        "text": message.text,
        "subject": message.subject,
        "purpose": message.purpose,
        "bundle": len(message.incidents) > 1,
        "incident": message.incident,
        "incidents": list(incidents),
        "step": None if message.step is None else message.step + 1,
        "name": person.name,
        "phone": person.phone,
        "answerable": message.purpose in ANSWERABLE,
        "replies": reply_address is not None,
        # A page to one person about one incident links to its actions; a bundle or a status does not.
        "links": _links(links, message) if len(incidents) == 1 and message.purpose in ANSWERABLE else {},
    }
    try:
        plain = renderer.render(person.language, "txt", context)
        html = renderer.render(person.language, "html", context)
    except TemplateError as error:
        raise DeliveryError(f"message {message.id}: e-mail template failed: {error}", retryable=False) from None
    mail = EmailMessage()
    try:
        mail["From"] = sender
        mail["To"] = Address(display_name=person.name, addr_spec=person.email)
        # One line: an alarm's summary may hold line breaks, which a header must not (nor smuggle others).
        mail["Subject"] = " ".join(message.subject.split())
    except (ValueError, IndexError) as error:  # a malformed address (the email package's parser raises both)
        raise DeliveryError(f"message {message.id}: cannot address the e-mail: {error}", retryable=False) from None
    mail["Date"] = date
    if reply_address is not None:
        mail["Reply-To"] = reply_address
    mail["Message-ID"] = message_id(message, domain)
    if incidents:
        mail["In-Reply-To"] = root_id(incidents[0], domain)
        mail["References"] = " ".join(root_id(i, domain) for i in incidents)
    # RFC 3834: vacation responders and ticket systems must not answer an automatic message, and
    # Exchange reads its own header for the same thing: an out-of-office reply to each page is noise.
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    if incidents:
        mail[INCIDENT_HEADER] = ", ".join(incidents)
    mail[PURPOSE_HEADER] = message.purpose
    mail.set_content(plain, subtype="plain", charset="utf-8")
    # HTML last: RFC 2046 puts the richest alternative at the end, and clients show the last they can.
    mail.add_alternative(html, subtype="html", charset="utf-8")
    return mail
