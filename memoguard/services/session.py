"""Web sessions (issue 23): what a browser holds once its person signed in, by a one-time code
(services/signin.py) or through a trusted reverse proxy's identity header.

Server-side rows rather than signed cookies. A signed cookie needs a server key, one more secret to
keep, rotate and share between instances, and it cannot be ended before it expires: sign-out would
only forget the cookie in one browser, and a stolen cookie would stay good until its expiry. A row
ends at sign-out everywhere, its idle expiry needs a last-seen time anyway, and the incidents are
already in the same database, so a lookup per request costs one indexed read. As with personal API
tokens (services/access.py), the cookie is 32 random bytes and only its SHA-256 digest is stored.

A session expires after ``idle`` without a request and, whatever its use, ``absolute`` after it began.
The last-seen time is written at most once a minute (``SEEN_EVERY``), so a console polling every few
seconds costs one write a minute; idle expiry is therefore exact to within that minute.

Each session has its own CSRF token (random, kept in the row): every form POST carries it in a hidden
field and every state-changing API call made with the cookie in the ``X-CSRF-Token`` header
(http/auth.py); a request without it, or with another, changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from memoguard.domain.person import Person
from memoguard.services.clock import Clock
from memoguard.services.record import AuditEntry, WebSession
from memoguard.services.store import Store

PREFIX = "mgs_"  # "memoguard session": told apart from a personal token (mgp_) in a log
SEEN_EVERY = timedelta(minutes=1)
PROXY = "proxy"  # how a session began, as the audit says it: through the proxy's header…
CODE = "web session"  # …or by a one-time code


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A session just begun: ``secret`` goes into the cookie and is kept nowhere else."""

    secret: str
    session: WebSession


class Sessions:
    def __init__(
        self, store: Store, clock: Clock, people: Mapping[str, Person], idle: timedelta, absolute: timedelta
    ) -> None:
        self._store = store
        self._clock = clock
        self._people = people
        self.idle = idle
        self.absolute = absolute

    def open(self, person: str, how: str, address: str | None, detail: str = "") -> Opened:
        """Begin a session for ``person`` (who must be configured), audited as a sign-in ``how``."""
        assert person in self._people, person
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        session = WebSession(
            id=0,
            person=person,
            how=how,
            csrf=secrets.token_urlsafe(32),
            address=address,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.absolute,
            ended_at=None,
        )
        with self._store.write() as unit:
            number = unit.add_session(session, digest(secret))
            unit.add_audit(AuditEntry(now, person, "signin", how, address, f"session {number}", detail))
        return Opened(secret, WebSession(**{**session.__dict__, "id": number}))

    def find(self, secret: str) -> WebSession | None:
        """The live session of this cookie, or None (unknown, signed out, idle too long, too old, or of a
        person since removed from the configuration). Its last-seen time is brought up to date."""
        now = self._clock.now()
        with self._store.read() as unit:
            session = unit.session_by_digest(digest(secret))
        if session is None or not self.live(session, now) or session.person not in self._people:
            return None
        if now - session.last_seen_at >= SEEN_EVERY:
            with self._store.write() as unit:
                unit.session_seen(session.id, now)
        return session

    def live(self, session: WebSession, now: datetime) -> bool:
        return session.ended_at is None and now < session.expires_at and now < session.last_seen_at + self.idle

    def close(self, session: WebSession, address: str | None) -> None:
        """Sign out: the session ends for every browser holding its cookie."""
        now = self._clock.now()
        with self._store.write() as unit:
            unit.end_session(session.id, now)
            unit.add_audit(AuditEntry(now, session.person, "signout", session.how, address, f"session {session.id}"))

    def admin(self, session: WebSession) -> bool:
        who = self._people.get(session.person)
        return who is not None and who.admin
