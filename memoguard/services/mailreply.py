"""Acknowledging by replying to an e-mail page (issue 16): the reply address, and what a reply does.

Each page's ``Reply-To`` is ``memoguard+INCIDENT=PERSON=MAC@DOMAIN``, MAC being 16 base32 characters of
HMAC-SHA256 over the incident and the person under the link key: the address names who may answer about
what, and nobody can make one up, so the listener refuses every other recipient at RCPT time (it is
never a relay). Person names and incident ids are made of characters a local part may hold; the MAC is
compared case-insensitively (some servers lowercase local parts). An address past the 64 characters a
local part may have is not offered: that page has its links only.

A reply is read like an SMS reply (domain/reply.py): its first line that is not quoted (``>``) and not
empty, so "1a", "ack", "ok", "2r" work; the incident is the address's, whatever code the line carries.
It is acted on only when its ``From`` is the paged person's address, and never when it is automatic
(RFC 3834 ``Auto-Submitted`` other than ``no``, ``X-Autoreply``, ``Precedence: bulk|junk|auto_reply``,
a bounce: an empty envelope sender or a ``multipart/report``): an out-of-office must not acknowledge.
The action goes through ``Actions`` with ``via="e-mail reply"``, as the SMS and the links do.

Every reply to a valid address goes on the incident's timeline (``email_reply``), whatever it did: a
reply that did nothing must not look, to the person who sent it, like an acknowledgement while the
incident escalates past them. A person's reply that did nothing (not understood, refused, already
resolved, sent from another address than theirs) also gets a short e-mail answer at their configured
address (never at the sender's: the listener must not send mail to addresses it was given), through the
SMTP providers, within the same hourly budget as SMS answers (services/reply.py). Automatic replies are
noted and never answered: answering an auto-responder is how mail loops start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Protocol

from memoguard.domain.person import Person
from memoguard.domain.reply import Command, ReplyVerb, parse_reply
from memoguard.services.action import Actions, Verb
from memoguard.services.clock import Clock
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.record import REPLY, NotificationDraft
from memoguard.services.renderer import Renderer
from memoguard.services.reply import IDLE_ANSWERS, IDLE_KINDS, IDLE_WINDOW
from memoguard.services.store import Store

VIA = "e-mail reply"
LOCAL = "memoguard"
MAX_LOCAL = 64  # RFC 5321 4.5.3.1.1
_ADDRESS = re.compile(r"^memoguard\+([0-9A-Za-z_-]+)=([A-Za-z0-9][A-Za-z0-9_.-]*)=([a-z2-7]{16})@(.+)$", re.I)
_VERBS = {
    ReplyVerb.ACK: Verb.ACK,
    ReplyVerb.CONFIRM: Verb.CONFIRM,
    ReplyVerb.RESOLVE: Verb.RESOLVE,
    ReplyVerb.ESCALATE: Verb.ESCALATE,
}
# Answers to e-mail replies that did nothing (templates/answer.*.txt), counted with the SMS ones.
MAIL_KINDS = ("mail_unparsed", "mail_sender")
ANSWERED_KINDS = (*IDLE_KINDS, *MAIL_KINDS)


@dataclass(frozen=True)
class Outcome:
    acted: bool
    why: str  # what happened, for the log: "acknowledged", "ignored: an automatic reply"…


@dataclass(frozen=True)
class Answering:
    """What answering a reply needs: the store (timeline, outbox), the clock, the answers' texts, and the
    SMTP providers answers go out by (in failover order)."""

    store: Store
    clock: Clock
    renderer: Renderer
    mailers: tuple[str, ...]


class ReplyDesk(Protocol):
    """What the reply listener needs: ``MailReplies``, or the service's ``CurrentMailReplies``
    (services/live.py), which reads each reply with the application in force."""

    domain: str
    listening: Callable[[], bool]

    def recipient(self, address: str) -> tuple[str, Person] | None: ...
    def receive(self, address: str, envelope_sender: str, mail: EmailMessage) -> Outcome: ...


class MailReplies:
    def __init__(
        self, secret: str, domain: str, people: Mapping[str, Person], actions: Actions, answering: Answering
    ) -> None:
        self._key = secret.encode("utf-8")
        self.domain = domain.lower()
        self._people = people
        self._actions = actions
        self._answering = answering
        # Set by the listener that serves these addresses: /readyz says when it is not running.
        self.listening: Callable[[], bool] = lambda: False

    def _mac(self, incident: str, person: str) -> str:
        digest = hmac.new(self._key, f"reply|{incident}|{person}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii").lower()[:16]

    def address(self, incident: str, person: str) -> str | None:
        """The Reply-To of a page to ``person`` about ``incident``; None when it would not fit."""
        local = f"{LOCAL}+{incident}={person}={self._mac(incident, person)}"
        if len(local) > MAX_LOCAL or not re.fullmatch(r"[0-9A-Za-z_-]+", incident):
            return None
        return f"{local}@{self.domain}"

    def recipient(self, address: str) -> tuple[str, Person] | None:
        """The incident and person ``address`` was made for, or None: then it is refused at RCPT."""
        match = _ADDRESS.match(address.strip().strip("<>"))
        if match is None or match.group(4).lower() != self.domain:
            return None
        incident, name, mac = match.group(1), match.group(2), match.group(3).lower()
        person = self._people.get(name) or next((p for n, p in self._people.items() if n.lower() == name.lower()), None)
        if person is None or not hmac.compare_digest(self._mac(incident, person.name), mac):
            return None
        return incident, person

    def receive(self, address: str, envelope_sender: str, mail: EmailMessage) -> Outcome:
        """Act on one reply delivered to ``address`` (accepted at RCPT, so its token is valid)."""
        found = self.recipient(address)
        if found is None:
            return Outcome(False, "refused: not a reply address")
        incident, person = found
        sender = parseaddr(str(mail.get("From", "")))[1].lower()
        line = first_line(mail)
        said = f"e-mail reply from {person.name} ({sender or 'no sender'}): {line[:60]!r}"
        automatic = _automatic(envelope_sender, mail)
        if automatic:
            return self._note(incident, person, said, f"ignored: {automatic}")
        if not person.email or sender != person.email.lower():
            why = f"ignored: from {sender or 'nobody'}, not {person.name}'s address"
            return self._note(incident, person, said, why, "mail_sender", {"sender": sender or "?"})
        command = parse_reply(line)
        if not isinstance(command, Command) or command.verb not in _VERBS:
            return self._note(incident, person, said, "ignored: not a command", "mail_unparsed", {"text": line})
        verb = _VERBS[command.verb]
        context: dict[str, Any] = {"verb": verb.value}
        try:
            outcome = self._actions.act(incident, verb, person.name, VIA)
        except Refused as error:
            if error.closed:
                return self._note(incident, person, said, f"refused: {error}", "closed", context)
            return self._note(incident, person, said, f"refused: {error}", "refused", {**context, "reason": str(error)})
        except (NotFound, Invalid) as error:  # the incident or the person is gone: no timeline to write on
            return Outcome(False, f"refused: {error}")
        if not outcome.changed:
            return self._note(incident, person, said, "already done", "duplicate", context)
        return self._note(incident, person, said, verb.value)

    def _note(
        self,
        incident: str,
        person: Person,
        said: str,
        why: str,
        answer: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Put the reply on the incident's timeline and, for a reply that did nothing, queue an answer
        to the person (``answer``: its kind in templates/answer.*.txt), within the hourly budget."""
        answering = self._answering
        now = answering.clock.now()
        with answering.store.write() as unit:
            if unit.incident(incident) is None:
                return Outcome(False, f"{why} (incident {incident} is gone)")
            unit.add_entry(incident, now, "email_reply", f"{said[0].upper()}{said[1:]}: {why}", person.name)
            if answer is None or not answering.mailers or not person.email:
                return Outcome(answer is None and not why.startswith(("ignored", "refused")), why)
            if unit.answers_since(person.name, ANSWERED_KINDS, now - IDLE_WINDOW) >= IDLE_ANSWERS:
                text = f"No answer sent to {person.name}: {IDLE_ANSWERS} sent to unusable replies this hour"
                unit.add_entry(incident, now, "email_reply_unanswered", text, person.name)
                return Outcome(False, why)
            facts = {**(context or {}), "kind": answer, "id": incident, "person": person.name}
            if answer == "closed":
                facts["by"] = next((e.person for e in reversed(unit.timeline(incident)) if e.kind == "resolved"), None)
            unit.add_notification(
                NotificationDraft(
                    incident=incident,
                    person=person.name,
                    channels=answering.mailers,
                    purpose=REPLY,
                    step=None,
                    cycle=0,
                    reason=answer,
                    subject=f"Re: [memoguard #{incident}]",
                    text=answering.renderer.render("answer", person.language, facts),
                    created_at=now,
                )
            )
        return Outcome(False, why)


def _automatic(envelope_sender: str, mail: EmailMessage) -> str:
    """Why ``mail`` is an automatic message, or "" for a person's reply."""
    if envelope_sender.strip("<> ") == "":
        return "a bounce (empty envelope sender)"
    if mail.get_content_type() == "multipart/report":
        return "a delivery report"
    submitted = str(mail.get("Auto-Submitted", "no")).strip().lower()
    if submitted != "no":
        return f"an automatic reply (Auto-Submitted: {submitted})"
    if mail.get("X-Autoreply") is not None or mail.get("X-Autorespond") is not None:
        return "an automatic reply (X-Autoreply)"
    if str(mail.get("Precedence", "")).strip().lower() in ("bulk", "junk", "auto_reply", "list"):
        return "an automatic reply (Precedence)"
    return ""


def first_line(mail: EmailMessage) -> str:
    """The first line of the plain-text body that is neither empty nor quoted."""
    part = mail.get_body(preferencelist=("plain",))
    if part is None or not isinstance(part, EmailMessage):
        return ""
    try:
        text = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: nothing to read
        return ""
    for line in str(text).splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(">"):
            return stripped
    return ""
