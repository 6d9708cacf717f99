"""People's credentials and the audit trail: personal API tokens, who acts through them, what was done.

A token is 32 random bytes (256 bits, ``secrets``), shown once at creation and stored only as its
SHA-256 digest. A plain fast hash suffices, and a keyed one (HMAC with a server key) would add a secret
to keep without adding safety: nobody can search a 2^256 space, so a leaked table of digests gives
nothing to brute-force, and there is no key to lose, rotate or share between instances. Password
hashing (bcrypt, argon2) exists for low-entropy secrets people choose; these are not.

Authentication hashes what the client sent, finds the row by its digest (a unique index), and compares
the digests again with ``hmac.compare_digest``: the lookup is by a value the client cannot steer toward
a stored one, so its timing says nothing about any real token. An unknown token, a revoked one, an
expired one, one whose person left memoguard.yaml, and a source token all fail the same way, with the
same work done (every failure writes one audit row). Throttling failures per address is the HTTP
layer's (http/auth.py).

The last use is written at most once a minute per token (``LAST_USE_EVERY``), so a busy script costs
a write a minute, not one per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from memoguard.domain.person import Person
from memoguard.services.clock import Clock
from memoguard.services.error import Invalid, NotFound
from memoguard.services.record import AuditEntry, StoredToken
from memoguard.services.store import Store

PREFIX = "mgp_"  # "memoguard personal": tells a leaked token apart from a source token in a log or a scan
LAST_USE_EVERY = timedelta(minutes=1)
MAX_NAME = 100  # the audit's ``how`` is "token NAME" in a column of 200 characters


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Credential:
    """Who a request acts as: the token's person, and the token's number and name (for the audit); or,
    for a browser signed in (services/session.py), its web session (``token`` 0) and CSRF token."""

    person: str
    admin: bool
    token: int
    name: str
    session: int | None = None
    csrf: str | None = None

    @property
    def how(self) -> str:
        """How the audit says the person acted: ``token NAME`` or ``web session``."""
        return "web session" if self.session is not None else f"token {self.name}"


@dataclass(frozen=True)
class Context:
    """How an action came in, for the audit trail: ``how`` (``token laptop``, ``web session``,
    ``sms reply``, ``e-mail link``, ``cli``…), the
    client's ``address``, and when an admin acts on behalf of another person, the admin (``actor``)
    and the mandatory ``reason``."""

    how: str
    address: str | None = None
    actor: str | None = None
    reason: str | None = None
    # A person's own credential (API token, web session): a responder may act on any incident, as
    # themself (issue 23), not only on those they were paged for, which SMS replies and links still are.
    any_incident: bool = False


class Access:
    def __init__(self, store: Store, clock: Clock, people: Mapping[str, Person]) -> None:
        self._store = store
        self._clock = clock
        self._people = people

    def _person(self, person: str) -> Person:
        who = self._people.get(person)
        if who is None:
            raise Invalid(f"unknown person {person!r} (people: {', '.join(sorted(self._people))})")
        return who

    def create(self, person: str, name: str, expires: timedelta | None, context: Context) -> tuple[StoredToken, str]:
        """The new token's record and the token itself, which is not kept anywhere: show it once."""
        self._person(person)
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise Invalid(f"a token's name must be 1 to {MAX_NAME} characters, not {name!r}")
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._store.write() as unit:
            number = unit.add_token(person, name, digest(secret), now, None if expires is None else now + expires)
            unit.add_audit(
                AuditEntry(
                    now,
                    context.actor,
                    "token-create",
                    context.how,
                    context.address,
                    f"token {number}",
                    f"for {person}, named {name!r}"
                    + ("" if expires is None else f", expires {now + expires:%Y-%m-%d %H:%M}Z"),
                )
            )
            created = unit.token(number)
        assert created is not None
        return created, secret

    def tokens(self, person: str | None = None) -> list[StoredToken]:
        if person is not None:
            self._person(person)
        with self._store.read() as unit:
            return unit.tokens(person)

    def revoke(self, token: int, context: Context) -> StoredToken:
        now = self._clock.now()
        with self._store.write() as unit:
            found = unit.token(token)
            if found is None:
                raise NotFound(f"no token {token}")
            if found.revoked_at is None:
                unit.revoke_token(token, now)
                unit.add_audit(
                    AuditEntry(
                        now,
                        context.actor,
                        "token-revoke",
                        context.how,
                        context.address,
                        f"token {token}",
                        f"of {found.person}, named {found.name!r}",
                    )
                )
            revoked = unit.token(token)
        assert revoked is not None
        return revoked

    def authenticate(self, token: str, address: str | None, *, record: bool = True) -> Credential | None:
        """The credential of a usable personal token, or None (and, when ``record``, an ``auth-failed``
        audit row)."""
        wanted = digest(token)
        now = self._clock.now()
        with self._store.read() as unit:
            found = unit.token_by_digest(wanted)
        if found is not None:
            stored, kept = found
            who = self._people.get(stored.person)
            if hmac.compare_digest(kept, wanted) and stored.usable(now) and who is not None:
                if stored.last_used_at is None or now - stored.last_used_at >= LAST_USE_EVERY:
                    with self._store.write() as unit:
                        unit.token_used(stored.id, now)
                return Credential(stored.person, who.admin, stored.id, stored.name)
            why = f"token {stored.id} of {stored.person}: " + (
                "revoked"
                if stored.revoked_at
                else "expired"
                if not stored.usable(now)
                else "person no longer configured"
            )
        else:
            why = "unknown token"
        if record:
            self.record(AuditEntry(now, None, "auth-failed", "bearer token", address, None, why))
        return None

    def record(self, entry: AuditEntry) -> None:
        with self._store.write() as unit:
            unit.add_audit(entry)

    def audit(self, since: datetime | None = None, limit: int = 1000) -> list[AuditEntry]:
        with self._store.read() as unit:
            return unit.audit(since, limit)
