"""Outbox claims: which dispatcher is sending a row, and when another one may take it over.

A dispatcher marks the rows it is about to send ``sending`` and signs them with its *claimant token*
(``claimed_by``). On PostgreSQL the token is a number from the ``outbox_claimant`` sequence, never
reused, held as a session advisory lock by a connection of its own for as long as the process lives
(``Claimant``). A claim is taken over when, and only when, that session is gone: the process was
killed or lost the database (PostgreSQL drops a killed client's session at once, and a vanished
host's after the TCP keepalives every session asks for, about 25 s: ``database.py``). A claim of a
live instance is never taken over, however slow its provider is, since another send of the same page
would wake someone twice; and a row whose claim was taken over is never sent by its first claimer:
just before each send the claim is renewed only while it is still signed with this process's token
*and* this process still holds that token's lock (``renew_claim``). Whatever the process's threads
are doing, a dead session fences it. The session is the heartbeat: there is no heartbeat table.

So a dead instance's pages are ready for the survivors at their next round (within the engine's
one-second sweep), and the rate-limit reservations a dead instance left count from when it made its
last call rather than as calls still about to happen.

The lease (``claimed_until``) remains for SQLite, where the service is the only process that sends
(its claims come back at start-up, or when a lease lapses), and for claims written before revision
0008 (no token). Timers need none of this: a timer is claimed by deleting it in the transaction that
decides it, so a dead session's rollback puts it back at once (see ``store.py``): no lease.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Engine, cast, delete, literal_column, or_, select, text, update
from sqlalchemy.engine import Connection

from memoguard.adapters.storage.table import NotificationTable, ProviderSendTable
from memoguard.services.record import NotificationStatus

log = logging.getLogger(__name__)

notification_t = NotificationTable.__table__  # type: ignore[attr-defined]
send_t = ProviderSendTable.__table__  # type: ignore[attr-defined]

CLAIMANT_LOCK = 0x6D67636C  # "mgcl": first key of the (namespace, token) advisory locks of claimants
CLAIMANT_SEQUENCE = "outbox_claimant"

_PENDING = NotificationStatus.PENDING.value
_SENDING = NotificationStatus.SENDING.value
_SUBMITTED = NotificationStatus.SUBMITTED.value
_UNSENT = (_PENDING, _SENDING, _SUBMITTED)


def live_claimants() -> Any:
    """The tokens whose session still holds its lock, in this database (PostgreSQL)."""
    return (
        select(cast(literal_column("objid"), BigInteger))
        .select_from(text("pg_locks"))
        .where(
            text(
                f"locktype = 'advisory' AND classid = {CLAIMANT_LOCK} AND objsubid = 2 AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    )


class Claimant:
    """This store's token in outbox claims. On PostgreSQL, a session of its own holds the token's
    advisory lock; once that session is lost the token is dead for good, and the next claim opens a new
    session with a new token. On SQLite, a random number for the life of the store (one process sends)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._session: Any = None  # the DBAPI connection holding the lock (PostgreSQL)
        self._token: int | None = None if self._postgres else secrets.randbelow(2**31 - 1) + 1

    @property
    def current(self) -> int | None:
        """The token in use, or None before the first claim (nothing claimed by this store yet)."""
        return self._token

    def token(self) -> int:
        """The token to claim with, opening the session that holds it if there is none."""
        with self._lock:
            if self._token is None:
                self._open()
            assert self._token is not None
            return self._token

    def lost(self, token: int) -> None:
        """``token``'s lock is no longer held (its session was dropped): claim under a new one."""
        with self._lock:
            if self._token == token and self._postgres:
                log.warning("outbox claimant %d lost its database session; claiming under a new one", token)
                self._close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self) -> None:
        raw = self._engine.raw_connection()
        raw.detach()  # held for the life of the process, outside the pool
        try:
            cursor = raw.cursor()  # with the engine's TCP keepalives (database.py), like every session
            while True:  # a token is never reused, unless the sequence was reset (a restored dump): skip those
                cursor.execute(
                    "SELECT token, pg_try_advisory_lock(%s::integer, token::integer)"
                    f" FROM nextval('{CLAIMANT_SEQUENCE}') AS token",
                    (CLAIMANT_LOCK,),
                )
                row = cursor.fetchone()
                assert row is not None
                if row[1]:
                    token = int(row[0])
                    break
            cursor.close()
            raw.commit()  # the lock and settings are the session's: nothing stays open in a transaction
        except Exception:
            raw.close()
            raise
        self._session, self._token = raw, token

    def _close(self) -> None:
        session, self._session = self._session, None
        if self._postgres:
            self._token = None
        if session is not None:
            try:
                session.close()
            except Exception:  # already dropped by the server: nothing to release
                log.debug("closing the claimant session failed", exc_info=True)


class SqlClaims:
    """The claim half of ``SqlUnit``'s outbox: claiming, renewing just before a send, taking over."""

    _c: Connection
    _postgres: bool
    _claimant: Claimant
    woke: bool

    def _holds(self, token: int) -> bool:
        """This process's session still holds ``token`` (always, on SQLite)."""
        if not self._postgres:
            return True
        query: Any = select(literal_column("1")).where(cast(token, BigInteger).in_(live_claimants()))
        return self._c.execute(query).first() is not None

    def _takeable(self, now: datetime) -> Any:
        """A ``sending`` row another dispatcher may take over now: its claimant's session is gone
        (PostgreSQL), or its lease lapsed (SQLite, and claims without a token)."""
        n = notification_t.c
        lapsed = n.claimed_until < now
        if not self._postgres:
            return lapsed
        return or_(n.claimed_by.not_in(live_claimants()), (n.claimed_by.is_(None)) & lapsed)

    def claim_notifications(self, ids: Sequence[int], lease_until: datetime) -> list[int]:
        if not ids:
            return []
        token = self._claimant.token()
        if not self._holds(token):  # the session was dropped since the last round: a new token
            self._claimant.lost(token)
            token = self._claimant.token()
        n = notification_t.c
        rows = self._c.execute(
            update(notification_t)
            .where(n.id.in_(list(ids)), n.status.in_(_UNSENT))
            .values(status=_SENDING, claimed_until=lease_until, claimed_by=token)
            .returning(n.id)
        )
        return sorted(int(r.id) for r in rows)

    def renew_claim(self, notification: int, lease_until: datetime) -> bool:
        token = self._claimant.current
        if token is None:
            return False
        n = notification_t.c
        mine = [n.id == notification, n.status == _SENDING, n.claimed_by == token]
        if self._postgres:
            mine.append(cast(token, BigInteger).in_(live_claimants()))
        result = self._c.execute(update(notification_t).where(*mine).values(claimed_until=lease_until))
        return int(result.rowcount) == 1

    def owns_claim(self, notification: int) -> bool:
        n = notification_t.c
        token = self._claimant.current
        # No liveness check here: a row still signed with a lost token was taken by nobody, and what this
        # process's call did is the truth about it.
        mine = (n.status == _SENDING) & (n.claimed_by.is_(None) | (n.claimed_by == token))
        query: Any = select(n.id).where(n.id == notification, mine | (n.status == _SUBMITTED))
        if self._postgres:
            query = query.with_for_update()
        return self._c.execute(query).first() is not None

    def release_claims(self, ids: Sequence[int], until: datetime) -> None:
        if not ids:
            return
        token = self._claimant.current
        if token is None:
            return
        n = notification_t.c
        self._c.execute(
            update(notification_t)
            .where(n.id.in_(list(ids)), n.status == _SENDING, n.claimed_by == token)
            .values(status=_PENDING, claimed_until=None, claimed_by=None, not_before=until)
        )
        self.woke = True

    def notification_reopened(self, notification: int, reference: str, lease_until: datetime) -> bool:
        n = notification_t.c
        result = self._c.execute(
            update(notification_t)
            .where(n.id == notification, n.status == NotificationStatus.SENT.value, n.reference == reference)
            .values(status=_SENDING, claimed_until=lease_until, claimed_by=self._claimant.token())
        )
        return int(result.rowcount) == 1

    def release_orphaned_claims(self) -> int:
        if self._postgres:
            return 0  # other instances may be sending right now: their sessions decide
        result = self._c.execute(
            update(notification_t)
            .where(notification_t.c.status == _SENDING)
            .values(status=_PENDING, claimed_until=None, claimed_by=None)
        )
        self._c.execute(delete(send_t).where(send_t.c.done.is_(False)))
        self.woke = True
        return int(result.rowcount)

    # --- rate-limit reservations, which a dead claimant leaves behind too

    def reserve_sends(self, name: str, times: Sequence[datetime]) -> list[int]:
        if not times:
            return []
        token = self._claimant.token()
        rows = self._c.execute(
            send_t.insert().returning(send_t.c.id, sort_by_parameter_order=True),
            [{"provider": name, "at": at, "done": False, "claimed_by": token} for at in times],
        )
        return [int(r.id) for r in rows]

    def provider_sends(self, name: str, since: datetime) -> list[tuple[datetime, bool]]:
        s = send_t.c
        # A dead claimant's call in flight either happened before it died or never will: it counts at its
        # stamp, as done, rather than as a call that may still reach the provider any moment.
        done = s.done | s.claimed_by.not_in(live_claimants()) if self._postgres else s.done
        query = select(s.at, done.label("done")).where(s.provider == name, or_(s.at >= since, s.done.is_(False)))
        return [(r.at, bool(r.done)) for r in self._c.execute(query)]
