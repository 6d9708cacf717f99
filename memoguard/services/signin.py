"""Web sign-in without a password store (issue 23): a one-time code sent over the person's own
channels, or a trusted reverse proxy's identity header. Either begins a web session (services/session.py).

A code is asked for with a person's name or e-mail address. The browser that asked gets a random
secret (a cookie, ``PREFIX`` + 32 bytes) and the person a six-digit code through the outbox, like any
message: over their channels in their order of preference (all the configured channels when they name
none), failing over as a page does, within the providers' rate limits, and surviving a restart. The
code works only from the browser that asked (its secret finds the row), once, for ``code_ttl``, and
for at most ``MAX_ATTEMPTS`` guesses; a person is sent at most ``codes_per_person`` codes per
``code_window`` (counted in the database, so across instances), and the HTTP layer limits requests
per address (http/signin.py).

Stored: the SHA-256 of the browser's secret (to find the row) and an HMAC of the code keyed by that
secret. Six digits hashed alone would be read back from a copy of the table in a millisecond; keyed by
a secret the table does not hold, they cannot.

The answer never says whether the name is someone's: an unknown name, a person over their limit and a
person sent a code get the same page, after the same statements (one row written, one audit row; only
the outbox row differs). A code request, a sign-in, a failed one and a refused proxy header are audited.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from memoguard.domain.person import Person
from memoguard.services.clock import Clock
from memoguard.services.record import AuditEntry, NotificationDraft
from memoguard.services.renderer import Renderer
from memoguard.services.session import CODE, PROXY, Opened, Sessions, digest
from memoguard.services.store import Store

PREFIX = "mgc_"  # "memoguard code": the browser's half of a code request
DIGITS = 6
MAX_ATTEMPTS = 5  # guesses per code request; then it is dead and another must be asked for
PURPOSE = "signin"  # the outbox rows' purpose
MAX_NAME = 320  # an e-mail address's longest


@dataclass(frozen=True)
class CodeSettings:
    ttl: timedelta
    per_person: int
    window: timedelta


def keyed(secret: str, code: str) -> str:
    return hmac.new(secret.encode(), code.encode(), hashlib.sha256).hexdigest()


class SignIn:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        people: Mapping[str, Person],
        channels: Sequence[str],
        renderer: Renderer,
        settings: CodeSettings,
        sessions: Sessions,
        proxy_addresses: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
    ) -> None:
        self._store = store
        self._clock = clock
        self._people = people
        self._channels = tuple(channels)
        self._renderer = renderer
        self.settings = settings
        self._sessions = sessions
        self._proxies = tuple(proxy_addresses)

    def person(self, who: str) -> Person | None:
        """The person named ``who``, or whose e-mail address it is (letter case aside)."""
        who = who.strip()
        if who in self._people:
            return self._people[who]
        wanted = who.casefold()
        return next((p for p in self._people.values() if p.email and p.email.casefold() == wanted), None)

    def request(self, who: str, address: str | None) -> str:
        """Send a code to the person ``who`` names, if any and within their limit. Returns the browser's
        secret in every case: the caller answers the same whatever happened."""
        secret = PREFIX + secrets.token_urlsafe(32)
        code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
        person = self.person(who[:MAX_NAME])
        now = self._clock.now()
        expires = now + self.settings.ttl
        # The same work whoever is named (the limit read, the text rendered), so that the time taken says
        # no more than the page does.
        minutes = max(1, int(self.settings.ttl.total_seconds() // 60))
        language = person.language if person is not None else "en"
        text = self._renderer.render("signin", language, {"code": code, "minutes": minutes, "address": address or "?"})
        with self._store.write() as unit:
            recent = unit.signins_since(person.name if person else who[:MAX_NAME], now - self.settings.window)
            if person is None:
                sent, why = None, f"no person is named {who[:MAX_NAME]!r}: nothing sent"
            elif recent >= self.settings.per_person:
                sent, why = None, f"{self.settings.per_person} codes within {self.settings.window}: nothing sent"
            else:
                sent = person
                why = "code queued for " + ", ".join(self._channels_of(person)) + " (the first that works)"
            unit.add_signin(None if sent is None else sent.name, digest(secret), keyed(secret, code), now, expires)
            if sent is not None:
                unit.add_notification(
                    NotificationDraft(
                        incident="",
                        person=sent.name,
                        channels=self._channels_of(sent),
                        purpose=PURPOSE,
                        step=None,
                        cycle=0,
                        reason=PURPOSE,
                        subject="memoguard: " + ("code de connexion" if sent.language == "fr" else "sign-in code"),
                        text=text,
                        created_at=now,
                    )
                )
            unit.add_audit(
                AuditEntry(now, None if person is None else person.name, "signin-code", CODE, address, None, why)
            )
        return secret

    def _channels_of(self, person: Person) -> tuple[str, ...]:
        return person.channels or self._channels

    def verify(self, secret: str | None, code: str, address: str | None) -> Opened | None:
        """A session for the person the code was sent to, or None (audited ``signin-failed``): no code
        asked from this browser, a wrong code, one already used, expired or guessed too often."""
        now = self._clock.now()
        code = "".join(code.split())
        opened: str | None = None
        with self._store.write() as unit:
            row = unit.signin_by_digest(digest(secret)) if secret else None
            if row is None:
                why, person = "no code was asked for from this browser (or it is gone)", None
            else:
                person = row.person
                if row.person is None:
                    why = "the name asked for is nobody's"
                elif row.used_at is not None:
                    why = "code already used"
                elif now >= row.expires_at:
                    why = "code expired"
                elif row.attempts >= MAX_ATTEMPTS:
                    why = f"{MAX_ATTEMPTS} wrong codes: ask for another"
                elif secret is None or not hmac.compare_digest(row.code, keyed(secret, code)):
                    why = "wrong code"
                elif row.person not in self._people:
                    why = "person no longer configured"
                elif not unit.signin_used(row.id, now):
                    why = "code already used"
                else:
                    why, opened = "", row.person
                if not opened:
                    unit.signin_attempted(row.id)
            if not opened:
                unit.add_audit(AuditEntry(now, person, "signin-failed", CODE, address, None, why))
        if opened is None:
            return None
        return self._sessions.open(opened, CODE, address, "by a one-time code")

    def trusted(self, address: str | None) -> bool:
        """Whether ``address`` is one of the proxies whose identity header is believed."""
        if not address or not self._proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)

    def proxy(self, header: str, value: str, address: str | None) -> Opened | None:
        """A session for the person the proxy's identity header names, when the request comes from a listed
        proxy address and the name (or e-mail address) is someone's; otherwise None, audited."""
        now = self._clock.now()
        if not self.trusted(address):
            why = f"{header} from {address}, which is not a listed proxy address: ignored"
            self._audit(AuditEntry(now, None, "signin-refused", PROXY, address, None, why))
            return None
        person = self.person(value[:MAX_NAME])
        if person is None:
            why = f"{header} names {value[:MAX_NAME]!r}, who is no person of memoguard.yaml"
            self._audit(AuditEntry(now, None, "signin-failed", PROXY, address, None, why))
            return None
        return self._sessions.open(person.name, PROXY, address, f"{header}: {value[:MAX_NAME]}")

    def _audit(self, entry: AuditEntry) -> None:
        with self._store.write() as unit:
            unit.add_audit(entry)
