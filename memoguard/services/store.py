"""The storage port: the database is the truth for incidents, timers, the outbox and overrides.

A ``Unit`` is one transaction. ``Store.write()`` opens one that may write (on SQLite it takes the write
lock at BEGIN, so read-then-write never deadlocks); ``Store.read()`` opens a read-only one. Leaving the
``with`` block commits; an exception rolls everything back, so a decision and its effects land together
or not at all. After a commit that added timers or notifications, the store wakes its subscribers (and,
on PostgreSQL, other processes through NOTIFY).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from memoguard.domain.event import TimerKind
from memoguard.domain.incident import Incident, IncidentState
from memoguard.services.record import (
    Alarm,
    DueTimer,
    IncidentRow,
    NewIncident,
    Notification,
    NotificationDraft,
    StoredOverride,
    TimelineEntry,
)


class SchemaBehind(Exception):
    """The database schema is older than this release's; ``memoguard db upgrade`` fixes it."""


class OpenIncidentExists(Exception):
    """Another transaction opened an incident for the same dedup key first (several instances)."""


class Unit(Protocol):
    # --- alarms and incidents
    def add_alarm(self, alarm: Alarm, received_at: datetime, incident: str | None, outcome: str) -> int: ...

    def open_incident_for(self, source: str, dedup_key: str) -> str | None:
        """The id of the open incident with this dedup key, if any."""
        ...

    def create_incident(self, draft: NewIncident) -> str:
        """Raises OpenIncidentExists (and leaves the transaction usable) when the key is already open."""
        ...

    def incident(self, incident_id: str) -> Incident | None:
        """The incident, locked for the rest of the transaction where the database can lock rows."""
        ...

    def incident_row(self, incident_id: str) -> IncidentRow | None: ...

    def save_incident(self, incident: Incident, at: datetime) -> None: ...

    def incidents(self, states: Sequence[IncidentState], limit: int) -> list[IncidentRow]:
        """Newest first; no states means all."""
        ...

    # --- timeline
    def add_entry(self, incident: str, at: datetime, kind: str, text: str, person: str | None) -> None: ...

    def timeline(self, incident: str) -> list[TimelineEntry]: ...

    # --- timers
    def add_timer(self, incident: str, kind: TimerKind, due_at: datetime, version: int) -> None: ...

    def cancel_timers(self, incident: str) -> None: ...

    def claim_due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        """Remove and return up to ``limit`` timers due at ``now``, earliest first. Rows claimed by another
        open transaction are skipped; a rollback puts the claimed ones back."""
        ...

    def next_timer_due(self) -> datetime | None: ...

    def timers(self, incident: str) -> list[DueTimer]: ...

    # --- outbox
    def add_notification(self, draft: NotificationDraft) -> int: ...

    def cancel_notifications(self, incident: str) -> int:
        """Cancel the incident's pending and sending notifications (a send in flight still ends as sent)."""
        ...

    def claim_notifications(self, now: datetime, limit: int, lease_until: datetime) -> list[Notification]:
        """Mark up to ``limit`` pending notifications (or ones whose lease lapsed) as sending, oldest first,
        pages before status messages."""
        ...

    def notification_sent(self, notification: int, at: datetime, provider: str) -> None: ...

    def notification_retry(self, notification: int, channel_index: int, not_before: datetime, error: str) -> None:
        """Back to pending (unless it was cancelled meanwhile)."""
        ...

    def notification_failed(self, notification: int, error: str) -> None:
        """Failed for good (unless it was cancelled meanwhile)."""
        ...

    def renew_claim(self, notification: int, lease_until: datetime) -> bool:
        """Extend this dispatcher's claim just before sending; False if it was cancelled meanwhile."""
        ...

    def notification_cancelled(self, notification: int, reason: str) -> None: ...

    def release_orphaned_claims(self) -> int:
        """At start-up: give back claims a crashed dispatcher held, where no other process can be sending
        (SQLite's single service process); on PostgreSQL leases decide. Returns how many."""
        ...

    def notifications(self, incident: str) -> list[Notification]: ...

    def next_notification_due(self) -> datetime | None: ...

    # --- overrides
    def add_override(
        self, roster: str, who: str, start: datetime, end: datetime, level: str, note: str, at: datetime
    ) -> int: ...

    def remove_override(self, override: int) -> StoredOverride | None: ...

    def overrides(self, roster: str | None = None) -> list[StoredOverride]: ...


class Store(Protocol):
    def write(self) -> AbstractContextManager[Unit]: ...

    def read(self) -> AbstractContextManager[Unit]: ...

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) whenever timers or notifications were committed."""
        ...

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        ...

    def close(self) -> None:
        """Release every connection."""
        ...
