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
from memoguard.domain.silence import Silence
from memoguard.services.record import (
    AlarmRecord,
    AuditEntry,
    Bundle,
    DueTimer,
    EngineBeat,
    HeldCount,
    IncidentRow,
    NewIncident,
    Notification,
    NotificationDraft,
    OpenIncident,
    OutboxRows,
    ProviderState,
    Pulse,
    QueueCount,
    SigninCode,
    StoredAlarm,
    StoredOverride,
    StoredToken,
    TestRun,
    TimelineEntry,
    WebSession,
)


class SchemaBehind(Exception):
    """The database schema is older than this release's; ``memoguard db upgrade`` fixes it."""


class StoreUnavailable(Exception):
    """The database could not be reached, or dropped the session in the middle of a transaction (a
    restart, a failover, a network cut): the transaction was rolled back, or, when the commit itself was
    cut, may have been committed. Not a bug: the remedy is to try again shortly, from the database's
    state, not to set the work aside as a bug's (a timer postponed, claimed rows held a lease)."""


class OpenIncidentExists(Exception):
    """Another transaction opened an incident for the same dedup key first (several instances)."""


class Unit(Protocol):
    # --- alarms and incidents
    def add_alarms(self, alarms: Sequence[StoredAlarm], received_at: datetime) -> list[int]:
        """Their ids, in order."""
        ...

    def open_incidents(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], OpenIncident]:
        """The open incidents of these (source, dedup key) pairs, locked like ``incident``."""
        ...

    def create_incident(self, draft: NewIncident) -> str:
        """Raises OpenIncidentExists (and leaves the transaction usable) when the key is already open."""
        ...

    def incident(self, incident_id: str) -> Incident | None:
        """The incident, locked for the rest of the transaction where the database can lock rows."""
        ...

    def incidents_by_id(self, incident_ids: Sequence[str]) -> dict[str, Incident]:
        """Those that exist, locked like ``incident`` (in id order, so two units never wait in a ring)."""
        ...

    def incident_row(self, incident_id: str) -> IncidentRow | None: ...

    def save_incident(self, incident: Incident, at: datetime) -> None: ...

    def incidents(self, states: Sequence[IncidentState], limit: int, before: str | None = None) -> list[IncidentRow]:
        """Newest first; no states means all; ``before``: only those older than that incident (a cursor)."""
        ...

    # --- timeline
    def add_entry(self, incident: str, at: datetime, kind: str, text: str, person: str | None) -> None: ...

    def timeline(self, incident: str) -> list[TimelineEntry]: ...

    def timeline_after(self, after: int, limit: int) -> list[TimelineEntry]:
        """Entries of every incident with an id above ``after``, by id (the console's live feed)."""
        ...

    def last_entry(self) -> int:
        """The highest timeline id (0: none yet)."""
        ...

    def incident_alarms(self, incident: str, limit: int) -> list[AlarmRecord]:
        """The incident's alarms, newest first."""
        ...

    # --- timers
    def add_timer(self, incident: str, kind: TimerKind, due_at: datetime, version: int) -> None: ...

    def cancel_timers(self, incident: str) -> None: ...

    def claim_due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        """Remove and return up to ``limit`` timers due at ``now``, earliest first. Rows claimed by another
        open transaction are skipped; a rollback puts the claimed ones back."""
        ...

    def postpone_timer(self, timer: DueTimer, due_at: datetime) -> bool:
        """Move this timer (by its row id, if its version is still the one claimed) to ``due_at``; False
        when it is gone (another instance fired it since)."""
        ...

    def next_timer_due(self) -> datetime | None: ...

    def timers(self, incident: str) -> list[DueTimer]: ...

    # --- outbox
    def add_notification(self, draft: NotificationDraft) -> int: ...

    def cancel_notifications(self, incident: str) -> int:
        """Cancel the incident's pending and sending pages and status messages (a send in flight still ends
        as sent). Incident events for helpdesks and webhooks are history and still go out."""
        ...

    def lock_dispatch(self) -> None:
        """Serialise dispatch planning across instances until the transaction ends (PostgreSQL advisory
        lock; SQLite writers are serial already), so rate limits and priorities hold across instances."""
        ...

    def ready_notifications(self, now: datetime, limit: int) -> list[Notification]:
        """Up to ``limit`` notifications that may go now, pages first, then status messages, then events:
        pending ones due, claims another dispatcher may take over (its process is gone; where that
        cannot be known, its lease lapsed), and batch jobs due for a poll. An event waits while
        an earlier event of the same incident for the same provider is not sent yet (tickets are created
        before they are updated)."""
        ...

    def claim_notifications(self, ids: Sequence[int], lease_until: datetime) -> list[int]:
        """Mark these as sending, claimed by this process (until ``lease_until`` where a claim is a lease);
        returns those still claimable (not cancelled)."""
        ...

    def defer_notifications(self, ids: Sequence[int], until: datetime, note: str | None = None) -> None:
        """Leave these pending until ``until`` (a provider's rate limit is full, or it asked to wait);
        ``note`` (why, e.g. "held: rate limit of sms-main (20/s)") replaces their ``error`` when given."""
        ...

    def notification_sent(
        self, notification: int, at: datetime, provider: str, reference: str | None = None, bundle: int | None = None
    ) -> None: ...

    def notification_retry(
        self,
        notification: int,
        *,
        channel_index: int,
        provider_index: int,
        attempts: int,
        not_before: datetime,
        error: str,
        tried_since: datetime | None,
    ) -> None:
        """Back to pending (unless it was cancelled meanwhile)."""
        ...

    def notification_submitted(self, ids: Sequence[int], job: str, poll_at: datetime, provider: str) -> None:
        """Handed to a provider's batch job: ask how it went at ``poll_at``."""
        ...

    def notification_tried(self, notification: int) -> None:
        """A call to a provider for it ended (sent or not): its ``tries`` count, which no failover resets."""
        ...

    def notification_reopened(self, notification: int, reference: str, lease_until: datetime) -> bool:
        """Take back a sent notification the network did not deliver, claimed as if being sent, so it can
        fail over; only while it is still sent under ``reference`` (False otherwise: already taken back,
        or sent again since)."""
        ...

    def notification_failed(self, notification: int, error: str) -> None:
        """Failed for good (unless it was cancelled meanwhile)."""
        ...

    def renew_claim(self, notification: int, lease_until: datetime) -> bool:
        """Extend this process's claim just before sending; False if it was cancelled meanwhile, or if the
        claim is no longer this process's (taken over after its database session was lost): then it
        must not be sent from here."""
        ...

    def owns_claim(self, notification: int) -> bool:
        """The row is still this process's to record (locked until the commit): ``sending`` under this
        process's claim, or ``submitted`` (a batch job, polled by whoever holds it next). False once
        another process took the claim over: what this process's call did is then only logged, since
        the row's new claimer decides what becomes of it."""
        ...

    def release_claims(self, ids: Sequence[int], until: datetime) -> None:
        """Give back this process's claims on these rows (a round that failed on a bug), pending until
        ``until``: a live process's claims are otherwise never taken over."""
        ...

    def notification_cancelled(self, notification: int, reason: str) -> None: ...

    def release_orphaned_claims(self) -> int:
        """At start-up: give back claims a crashed dispatcher held, where no other process can be sending
        (SQLite's single service process); on PostgreSQL the claimers' sessions decide. Returns how many."""
        ...

    def notifications(self, incident: str) -> list[Notification]: ...

    def next_notification_due(self) -> datetime | None: ...

    def job_notifications(self, provider: str, job: str) -> list[Notification]:
        """Every notification in ``provider``'s batch job, in the order they were submitted."""
        ...

    def outbound_reference(self, incident: str, provider: str) -> str | None:
        """What ``provider`` returned for the incident's latest event sent to it (a ticket id)."""
        ...

    def queue_counts(self) -> list[QueueCount]: ...

    # --- gauges for /metrics (adapters/storage/gauge.py): live rows only, through their indexes
    def open_incident_counts(self) -> dict[str, int]:
        """Open incidents by state (triggered, acknowledged, confirmed); a state with none is absent."""
        ...

    def outbox_depth(self) -> list[OutboxRows]:
        """Notifications not sent yet (queued, being sent, submitted), grouped as ``queue_counts``."""
        ...

    def held_counts(self, now: datetime) -> list[HeldCount]:
        """Pending notifications that may not go before a time after ``now``, grouped by why."""
        ...

    # --- providers: rate-limit log, throttling and health
    def provider_state(self, name: str) -> ProviderState: ...

    def provider_states(self) -> list[ProviderState]: ...

    def provider_sends(self, name: str, since: datetime) -> list[tuple[datetime, bool]]:
        """Calls to ``name`` at or after ``since`` (time, done), plus every call still in flight."""
        ...

    def reserve_sends(self, name: str, times: Sequence[datetime]) -> list[int]:
        """One reservation per planned call, in order; returns their ids."""
        ...

    def stamp_send(self, reservation: int, at: datetime) -> None:
        """The call starts now (a reservation made at planning may wait behind the round's other calls)."""
        ...

    def finish_send(self, reservation: int, at: datetime) -> None: ...

    def release_send(self, reservation: int) -> None:
        """The call was not made after all: it no longer counts."""
        ...

    def prune_sends(self, name: str, before: datetime, stale: datetime) -> None:
        """Forget finished calls before ``before`` and reservations left by a crash before ``stale``."""
        ...

    def provider_blocked(self, name: str, until: datetime) -> None: ...

    def provider_failed(self, name: str, at: datetime, error: str) -> None: ...

    def provider_succeeded(self, name: str, at: datetime) -> None: ...

    # --- storm bundles
    def recent_pages(self, person: str, channel: str, since: datetime, now: datetime) -> list[datetime]:
        """When ``person`` was paged on ``channel`` since ``since`` (a bundle that went out counts once; a
        page in flight counts as ``now``)."""
        ...

    def add_bundle(self, person: str, channel: str, at: datetime, reuse_after: datetime) -> Bundle:
        """A new bundle, with a code no bundle sent to the person since ``reuse_after`` carried."""
        ...

    def bundle(self, person: str, code: int) -> Bundle | None:
        """The person's latest bundle with this code that went out."""
        ...

    def bundle_notifications(self, bundle: int) -> list[Notification]:
        """The notifications that went out in ``bundle``, in id order."""
        ...

    def bundle_incidents(self, bundle: int) -> list[str]: ...

    # --- SMS: reply codes, STOP opt-outs, delivery receipts
    def reply_code(self, phone: str, person: str, incident: str, now: datetime, expires_at: datetime) -> int:
        """The code ``phone`` uses for ``incident``: the one it has (now held until ``expires_at``), or the
        smallest one the number does not hold (an open incident's, or one shown less than 72 h ago)."""
        ...

    def code_holder(self, phone: str, code: int, now: datetime) -> tuple[str, str] | None:
        """(incident, person paged) that ``phone``'s ``code`` names now."""
        ...

    def open_codes(self, phone: str) -> list[tuple[int, str, str]]:
        """(code, incident, person) of every open incident paged to ``phone``, newest first."""
        ...

    def latest_code(self, phone: str) -> tuple[int, str, str] | None:
        """(code, incident, person) of the last incident paged to ``phone``, open or not."""
        ...

    def opt_out(self, phone: str, at: datetime) -> bool: ...

    def opt_in(self, phone: str) -> bool: ...

    def opted_out(self, phone: str) -> bool: ...

    def answers_since(self, person: str, reasons: Sequence[str], since: datetime) -> int: ...

    def add_provider_messages(self, provider: str, message_ids: Sequence[str], notification: int) -> None:
        """Remember the provider's ids of a sent notification, for its delivery receipts."""
        ...

    def message_notification(self, provider: str, message_id: str) -> int | None: ...

    def notification_receipt(self, notification: int, state: str, at: datetime) -> None: ...

    def notification(self, notification: int) -> Notification | None: ...

    # --- overrides
    def add_override(
        self, roster: str, who: str, start: datetime, end: datetime, level: str, note: str, at: datetime
    ) -> int: ...

    def remove_override(self, override: int) -> StoredOverride | None: ...

    def overrides(self, roster: str | None = None, covering: datetime | None = None) -> list[StoredOverride]:
        """Stored overrides by start; with ``covering``, only those in force at that instant."""
        ...

    def overrides_in_force(self, rosters: Sequence[str], at: datetime) -> list[StoredOverride]:
        """The overrides of these rosters in force at ``at``, by start, read once per roster and instant
        for the rest of the transaction (a decision reads its incident's; a batch reads all of its first)."""
        ...

    # --- engine heartbeats
    def engine_beat(self, beat: EngineBeat) -> None:
        """Record that ``beat.instance`` ran its engine at ``beat.last_beat`` (one row per instance)."""
        ...

    def engine_stopped(self, instance: str, at: datetime) -> None:
        """The instance's engine stopped cleanly at ``at``."""
        ...

    def engine_beats(self, limit: int) -> list[EngineBeat]:
        """Up to ``limit`` engines, freshest beat first (an index bounds the read)."""
        ...

    def forget_engines(self, before: datetime) -> None:
        """Forget engines whose last beat is older than ``before``."""
        ...

    # --- personal API tokens and the audit trail
    def add_token(self, person: str, name: str, digest: str, at: datetime, expires: datetime | None) -> int: ...

    def token_by_digest(self, digest: str) -> tuple[StoredToken, str] | None:
        """The token with this digest, and the digest as stored (compared again in constant time)."""
        ...

    def token(self, token: int) -> StoredToken | None: ...

    def tokens(self, person: str | None = None) -> list[StoredToken]: ...

    def revoke_token(self, token: int, at: datetime) -> None: ...

    def token_used(self, token: int, at: datetime) -> None: ...

    def add_audit(self, entry: AuditEntry) -> None: ...

    # --- web sign-in: one-time codes and sessions (services/signin.py, services/session.py)
    def add_signin(self, person: str | None, digest: str, code: str, at: datetime, expires: datetime) -> int: ...

    def signin_by_digest(self, digest: str) -> SigninCode | None: ...

    def signin_attempted(self, signin: int) -> None: ...

    def signin_used(self, signin: int, at: datetime) -> bool:
        """Mark the code used; False when it already was (single use, whoever came first)."""
        ...

    def signins_since(self, person: str, since: datetime) -> int: ...

    def add_session(self, session: WebSession, digest: str) -> int: ...

    def session_by_digest(self, digest: str) -> WebSession | None: ...

    def session_seen(self, session: int, at: datetime) -> None: ...

    def end_session(self, session: int, at: datetime) -> None: ...

    def audit(self, since: datetime | None, limit: int) -> list[AuditEntry]:
        """Oldest first, from ``since``."""
        ...

    # --- heartbeats (dead man's switches) and maintenance windows (issue 17)
    def add_pulses(self, pulses: Sequence[Pulse]) -> None:
        """Insert the heartbeats that have no row yet (others are left as they are)."""
        ...

    def pulses(self, names: Sequence[str] | None = None) -> list[Pulse]:
        """By name; ``names`` None: every row."""
        ...

    def pulse_for_update(self, name: str) -> Pulse | None:
        """The heartbeat, locked until the transaction ends (PostgreSQL)."""
        ...

    def save_pulse(self, pulse: Pulse) -> None: ...

    def claim_due_pulses(self, names: Sequence[str], now: datetime, limit: int) -> list[Pulse]:
        """Heartbeats among ``names`` whose deadline passed, locked and skipping those another
        transaction holds (PostgreSQL), so that each miss is decided by one instance."""
        ...

    def next_pulse_due(self, names: Sequence[str]) -> datetime | None: ...

    # --- the self-test's timer (services/selftest.py)

    def add_test_run(self, run: TestRun) -> None:
        """Insert the row unless another instance did first."""
        ...

    def test_run(self) -> TestRun | None:
        """The row as it is, unlocked (when the engine next looks)."""
        ...

    def test_run_for_update(self, due_by: datetime | None = None) -> TestRun | None:
        """The row, locked; with ``due_by``, only when due by then and not locked by another instance."""
        ...

    def save_test_run(self, run: TestRun) -> None: ...

    def add_silence(self, silence: Silence) -> int: ...

    def silence(self, silence: int) -> Silence | None: ...

    def silences(self, ending_after: datetime | None) -> list[Silence]:
        """Run-time silences not removed and ending after ``ending_after`` (None: all, removed too)."""
        ...

    def remove_silence(self, silence: int, at: datetime, by: str | None) -> None: ...

    def held_alarm(self, incident: str) -> tuple[str, str, dict[str, str]] | None:
        """The (source, severity, labels) of the incident's first alarm (ix_alarm_incident_id)."""
        ...


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
