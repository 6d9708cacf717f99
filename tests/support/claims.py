"""Ending a store's claimant session on PostgreSQL, as the death of its process does (the server drops a
killed client's session): its advisory lock goes, so its outbox claims may be taken over."""

from __future__ import annotations

from sqlalchemy import text

from memoguard.adapters.storage.claim import CLAIMANT_LOCK
from memoguard.adapters.storage.store import SqlStore


def end_claimant_session(store: SqlStore, other: SqlStore | None = None) -> None:
    """Terminate the session holding ``store``'s claimant token (from ``other``'s connection when given,
    or ``store``'s own pool), waiting until it is gone."""
    token = store.claimant.current
    assert token is not None, "the store has claimed nothing: it has no claimant session"
    with (other or store).engine.begin() as connection:
        ended = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid = :namespace AND objid = :token AND objsubid = 2 AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"namespace": CLAIMANT_LOCK, "token": token},
        ).scalars()
        assert list(ended) == [True]
