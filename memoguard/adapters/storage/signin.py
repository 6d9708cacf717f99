"""The web sign-in half of ``SqlUnit``: one-time sign-in codes and web sessions (revision 0012)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update

from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.table import SigninCodeTable, WebSessionTable
from memoguard.services.record import SigninCode, WebSession

code_t = SigninCodeTable.__table__  # type: ignore[attr-defined]
session_t = WebSessionTable.__table__  # type: ignore[attr-defined]


class SqlSignin:
    _c: Batch

    def add_signin(self, person: str | None, digest: str, code: str, at: datetime, expires: datetime) -> int:
        row = self._c.execute(
            insert(code_t)
            .values(person=person, digest=digest, code=code, created_at=at, expires_at=expires, attempts=0)
            .returning(code_t.c.id)
        )
        return int(row.scalar_one())

    def signin_by_digest(self, digest: str) -> SigninCode | None:
        r = self._c.execute(select(code_t).where(code_t.c.digest == digest)).one_or_none()
        if r is None:
            return None
        return SigninCode(r.id, r.person, r.code, r.created_at, r.expires_at, r.used_at, r.attempts)

    def signin_attempted(self, signin: int) -> None:
        self._c.execute(update(code_t).where(code_t.c.id == signin).values(attempts=code_t.c.attempts + 1))

    def signin_used(self, signin: int, at: datetime) -> bool:
        result = self._c.execute(
            update(code_t).where(code_t.c.id == signin, code_t.c.used_at.is_(None)).values(used_at=at)
        )
        return int(result.rowcount) == 1

    def signins_since(self, person: str, since: datetime) -> int:
        query = select(func.count()).where(code_t.c.person == person, code_t.c.created_at > since)
        return int(self._c.execute(query).scalar_one())

    def add_session(self, session: WebSession, digest: str) -> int:
        row = self._c.execute(
            insert(session_t)
            .values(
                digest=digest,
                person=session.person,
                how=session.how,
                csrf=session.csrf,
                address=session.address,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                expires_at=session.expires_at,
            )
            .returning(session_t.c.id)
        )
        return int(row.scalar_one())

    def session_by_digest(self, digest: str) -> WebSession | None:
        r = self._c.execute(select(session_t).where(session_t.c.digest == digest)).one_or_none()
        return None if r is None else _to_session(r)

    def session_seen(self, session: int, at: datetime) -> None:
        self._c.execute(update(session_t).where(session_t.c.id == session).values(last_seen_at=at))

    def end_session(self, session: int, at: datetime) -> None:
        self._c.execute(
            update(session_t).where(session_t.c.id == session, session_t.c.ended_at.is_(None)).values(ended_at=at)
        )


def _to_session(r: Row[Any]) -> WebSession:
    return WebSession(
        id=r.id,
        person=r.person,
        how=r.how,
        csrf=r.csrf,
        address=r.address,
        created_at=r.created_at,
        last_seen_at=r.last_seen_at,
        expires_at=r.expires_at,
        ended_at=r.ended_at,
    )
