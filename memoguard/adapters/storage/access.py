"""The access half of ``SqlUnit``: personal API tokens (by digest) and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.incident import MAX_ID
from memoguard.adapters.storage.table import ApiTokenTable, AuditTable
from memoguard.services.record import AuditEntry, StoredToken

token_t = ApiTokenTable.__table__  # type: ignore[attr-defined]
audit_t = AuditTable.__table__  # type: ignore[attr-defined]


class SqlAccess:
    _c: Batch

    def add_token(self, person: str, name: str, digest: str, at: datetime, expires: datetime | None) -> int:
        row = self._c.execute(
            insert(token_t)
            .values(person=person, name=name, digest=digest, created_at=at, expires_at=expires)
            .returning(token_t.c.id)
        )
        return int(row.scalar_one())

    def token_by_digest(self, digest: str) -> tuple[StoredToken, str] | None:
        row = self._c.execute(select(token_t).where(token_t.c.digest == digest)).one_or_none()
        return None if row is None else (_to_token(row), row.digest)

    def token(self, token: int) -> StoredToken | None:
        if not 0 < token <= MAX_ID:
            return None
        row = self._c.execute(select(token_t).where(token_t.c.id == token)).one_or_none()
        return None if row is None else _to_token(row)

    def tokens(self, person: str | None = None) -> list[StoredToken]:
        query = select(token_t).order_by(token_t.c.id)
        if person is not None:
            query = query.where(token_t.c.person == person)
        return [_to_token(r) for r in self._c.execute(query)]

    def revoke_token(self, token: int, at: datetime) -> None:
        self._c.execute(
            update(token_t).where(token_t.c.id == token, token_t.c.revoked_at.is_(None)).values(revoked_at=at)
        )

    def token_used(self, token: int, at: datetime) -> None:
        self._c.execute(update(token_t).where(token_t.c.id == token).values(last_used_at=at))

    def add_audit(self, entry: AuditEntry) -> None:
        self._c.execute(
            insert(audit_t).values(
                at=entry.at,
                person=entry.person,
                action=entry.action,
                how=entry.how,
                address=entry.address,
                target=entry.target,
                detail=entry.detail,
            )
        )

    def audit(self, since: datetime | None, limit: int) -> list[AuditEntry]:
        query = select(audit_t).order_by(audit_t.c.at, audit_t.c.id).limit(limit)
        if since is not None:
            query = query.where(audit_t.c.at >= since)
        return [
            AuditEntry(
                at=r.at,
                person=r.person,
                action=r.action,
                how=r.how,
                address=r.address,
                target=r.target,
                detail=r.detail,
                id=r.id,
            )
            for r in self._c.execute(query)
        ]


def _to_token(r: Row[Any]) -> StoredToken:
    return StoredToken(
        id=r.id,
        person=r.person,
        name=r.name,
        created_at=r.created_at,
        expires_at=r.expires_at,
        revoked_at=r.revoked_at,
        last_used_at=r.last_used_at,
    )
