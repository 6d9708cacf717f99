"""Acknowledgement links of e-mail pages (issue 16): signed, expiring tokens, and what following one does.

A link is ``PUBLIC_URL/email/TOKEN``. The token is ``base64url(payload) "." base64url(HMAC-SHA256)``,
the payload the JSON list ``[incident, person, action, step, expires]``: it names who acts, on what,
how, and until when, so the service keeps no state for it and a change to any byte breaks the MAC
(compared in constant time). The key comes from ``http.link_secret_file``/``link_secret_env``.

Mail scanners (Outlook Safe Links, Proofpoint, Gmail's previews) open every link of a message: a GET
therefore only *shows* the incident and one button, and only the POST that button sends acts, as the
person the token names, through the same ``Actions`` the API and the CLI use, marked ``e-mail link``
in the timeline.

Replays need no stored tokens: acknowledging or confirming twice is a recorded no-op the page shows as
"already done"; resolving a resolved incident is refused; and an escalate link is bound to the step it
was paged at, so once that stage is over (escalated, by this link or otherwise) it no longer applies.
A link that no longer applies (incident resolved, stage over, a confirmation the policy does not ask
for) shows why and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.person import Person
from memoguard.domain.policy import AckMode
from memoguard.services.access import Context
from memoguard.services.action import Actions, Verb
from memoguard.services.clock import Clock
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.store import Store

VIA = "e-mail link"
MIN_SECRET = 16  # bytes of key: a short one could be guessed offline from a single link


class Problem(StrEnum):
    """Why a link does nothing (the HTTP status each is shown with is in http/link.py)."""

    MALFORMED = "malformed"  # not a token at all, or tampered with: the MAC does not match
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # the incident or the person is gone
    NOT_APPLICABLE = "not_applicable"  # resolved, stage over, already done, not in this policy


class LinkError(Exception):
    def __init__(self, problem: Problem, reason: str) -> None:
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


@dataclass(frozen=True)
class Link:
    incident: str
    person: str
    verb: Verb
    step: int | None  # 0-based step of the page it came with (binds escalate links to their stage)
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: str, ttl: timedelta) -> None:
        key = secret.encode("utf-8")
        if len(key) < MIN_SECRET:
            raise ValueError(f"the link secret is {len(key)} bytes long: use at least {MIN_SECRET} (32 random bytes)")
        if ttl <= timedelta(0):
            raise ValueError("link_ttl must be positive")
        self._key = key
        self.ttl = ttl

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def sign(self, incident: str, person: str, verb: Verb, step: int | None, sent: datetime) -> str:
        expires = int((sent + self.ttl).timestamp())
        body = json.dumps([incident, person, verb.value, step, expires], separators=(",", ":"))
        payload = _b64(body.encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def read(self, token: str, now: datetime) -> Link:
        """The link ``token`` stands for; LinkError when it was not signed with this key or has expired."""
        payload, dot, mac = token.partition(".")
        if not dot or not payload.isascii() or not mac.isascii() or not hmac.compare_digest(self._mac(payload), mac):
            raise LinkError(Problem.MALFORMED, "this link is not valid: it was changed or cut (copy it whole)")
        try:
            incident, person, verb, step, expires = json.loads(_unb64(payload))
            link = Link(
                str(incident),
                str(person),
                Verb(verb),
                None if step is None else int(step),
                datetime.fromtimestamp(int(expires), UTC),
            )
        except (ValueError, TypeError, binascii.Error):  # signed by us, so only a change of format
            raise LinkError(Problem.MALFORMED, "this link is not valid (an older format)") from None
        if now >= link.expires:
            raise LinkError(Problem.EXPIRED, f"this link expired at {link.expires:%Y-%m-%d %H:%M} UTC")
        return link


@dataclass(frozen=True)
class LinkPage:
    """What a link's page shows: the incident, who acts and how, and whether the button is there."""

    link: Link
    incident: Incident
    person: Person
    applicable: bool
    reason: str  # why not, when not applicable; empty otherwise


class EmailLinks:
    """The links written into e-mail pages (``for_page``) and what following one does (``show``, ``act``)."""

    def __init__(
        self,
        signer: Signer,
        public_url: str,
        store: Store,
        clock: Clock,
        people: Mapping[str, Person],
        actions: Actions,
    ) -> None:
        self._signer = signer
        self._base = public_url.rstrip("/")
        self._store = store
        self._clock = clock
        self._people = people
        self._actions = actions

    def url(self, token: str) -> str:
        return f"{self._base}/email/{token}"

    def for_page(self, incident: str, person: str, step: int | None, sent: datetime) -> dict[str, str]:
        """The links of one page, by verb; confirm only when the incident's policy asks for it."""
        with self._store.read() as unit:
            found = unit.incident(incident)
        verbs = [Verb.ACK, Verb.RESOLVE, Verb.ESCALATE]
        if found is not None and found.policy.ack.mode == AckMode.DOUBLE:
            verbs.insert(1, Verb.CONFIRM)
        return {v.value: self.url(self._signer.sign(incident, person, v, step, sent)) for v in verbs}

    def show(self, token: str) -> LinkPage:
        """What the GET shows: reads only, changes nothing."""
        link = self._signer.read(token, self._clock.now())
        with self._store.read() as unit:
            incident = unit.incident(link.incident)
        return self._page(link, incident)

    def act(self, token: str, address: str | None = None) -> tuple[LinkPage, bool]:
        """Do what the link says, as its person; the page after, and whether anything changed.
        A link that does not apply raises LinkError and changes nothing. Audited as ``e-mail link``
        from ``address`` (the client's)."""
        page = self.show(token)
        if not page.applicable:
            raise LinkError(Problem.NOT_APPLICABLE, page.reason)
        link = page.link
        try:
            outcome = self._actions.act(link.incident, link.verb, link.person, VIA, Context(VIA, address))
        except (NotFound, Invalid) as error:
            raise LinkError(Problem.UNKNOWN, str(error)) from None
        except Refused as error:
            raise LinkError(Problem.NOT_APPLICABLE, str(error)) from None
        return LinkPage(link, outcome.incident, page.person, False, ""), outcome.changed

    def _page(self, link: Link, incident: Incident | None) -> LinkPage:
        person = self._people.get(link.person)
        if incident is None:
            raise LinkError(Problem.UNKNOWN, f"incident {link.incident} no longer exists")
        if person is None:
            raise LinkError(Problem.UNKNOWN, f"{link.person} is no longer in the configuration")
        reason = _not_applicable(link, incident)
        return LinkPage(link, incident, person, not reason, reason)


def _not_applicable(link: Link, incident: Incident) -> str:
    """Why ``link`` no longer applies to ``incident``, or "" when it does (the state machine has the
    last word at the POST: this is what the page can say before the button is pressed)."""
    if incident.state == IncidentState.RESOLVED:
        return "resolved"
    match link.verb:
        case Verb.ACK:
            if link.person in incident.acked_by:
                return "already_acked"
        case Verb.CONFIRM:
            if incident.policy.ack.mode != AckMode.DOUBLE:
                return "no_confirmation"
            if link.person in incident.confirmed_by or incident.state == IncidentState.CONFIRMED:
                return "already_confirmed"
            if incident.state != IncidentState.ACKNOWLEDGED:
                return "ack_first"
        case Verb.ESCALATE:
            if link.step is None or incident.step != link.step:
                return "stage_over"
        case Verb.RESOLVE:
            pass
    return ""
