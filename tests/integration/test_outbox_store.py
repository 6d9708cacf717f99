"""The outbox, provider and storm-bundle half of the storage adapter, against a real database: SQLite
always, PostgreSQL when MEMOGUARD_TEST_DATABASE_URL is set. Everything goes through the storage port
(``memoguard.services.store.Unit``), one transaction per ``with`` block; the docstrings there are the
contract these tests hold the adapter to. The ``config`` and ``store`` fixtures are in conftest.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from memoguard.adapters.storage.outbox import DISPATCH_LOCK
from memoguard.adapters.storage.store import SqlStore
from memoguard.config.model import Config
from memoguard.services.record import (
    Bundle,
    Notification,
    NotificationDraft,
    NotificationStatus,
    ProviderState,
    QueueCount,
)
from tests.integration.test_store import open_incident, page_for
from tests.support.claims import end_claimant_session

T0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
PENDING = NotificationStatus.PENDING
SENDING = NotificationStatus.SENDING
SUBMITTED = NotificationStatus.SUBMITTED
SENT = NotificationStatus.SENT
FAILED = NotificationStatus.FAILED
CANCELLED = NotificationStatus.CANCELLED


def event_for(
    incident: str, provider: str, event: str, purpose: str = "ticket", at: datetime = T0
) -> NotificationDraft:
    """An incident event for an outbound provider, as ``Publish`` writes it."""
    return NotificationDraft(
        incident=incident,
        person="",
        channels=(provider,),
        purpose=purpose,
        step=None,
        cycle=0,
        reason=event,
        subject=f"[memoguard #{incident}] {event}",
        text=f"{event} for {provider}",
        created_at=at,
        payload=json.dumps({"event": event}),
    )


def ids(rows: Sequence[Notification]) -> list[int]:
    return [n.id for n in rows]


def ready(store: SqlStore, now: datetime, limit: int = 50) -> list[int]:
    with store.read() as unit:
        return ids(unit.ready_notifications(now, limit))


def statuses(store: SqlStore, *incidents: str) -> dict[int, NotificationStatus]:
    with store.read() as unit:
        return {n.id: n.status for incident in incidents for n in unit.notifications(incident)}


def row(store: SqlStore, incident: str, notification: int) -> Notification:
    with store.read() as unit:
        [found] = [n for n in unit.notifications(incident) if n.id == notification]
    return found


def send(
    store: SqlStore,
    notification: int,
    at: datetime,
    provider: str = "console",
    *,
    reference: str | None = None,
    bundle: int | None = None,
) -> None:
    """Claim the row and record it as sent at ``at``."""
    with store.write() as unit:
        assert unit.claim_notifications([notification], at + MINUTE) == [notification]
        unit.notification_sent(notification, at, provider, reference, bundle)


# --- ready_notifications ----------------------------------------------------------------------------


def test_ready_takes_pages_then_status_messages_then_events(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        ticket = unit.add_notification(event_for(incident, "zendesk", "triggered", at=T0))
        webhook = unit.add_notification(event_for(incident, "hook", "triggered", "webhook", at=T0))
        status = unit.add_notification(page_for(incident, "bob", "status", at=T0 + MINUTE))
        page = unit.add_notification(page_for(incident, "alice", "page", at=T0 + 2 * MINUTE))
        later_page = unit.add_notification(page_for(incident, "carol", "page", at=T0 + 10 * MINUTE))

    assert ready(store, T0 + 5 * MINUTE) == [page, status, ticket, webhook]
    assert ready(store, T0 + 5 * MINUTE, limit=2) == [page, status]
    assert ready(store, T0 + 10 * MINUTE - SECOND) == [page, status, ticket, webhook]  # not_before holds
    assert ready(store, T0 + 10 * MINUTE) == [page, later_page, status, ticket, webhook]
    assert ready(store, T0) == [ticket, webhook]
    assert ready(store, T0 - SECOND) == []


def test_a_claim_is_ready_again_once_its_lease_lapsed_or_on_postgresql_its_claimer_is_gone(
    store: SqlStore, config: Config
) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        page = unit.add_notification(page_for(incident, "alice"))
        status = unit.add_notification(page_for(incident, "bob", "status"))
        assert unit.claim_notifications([page], T0 + MINUTE) == [page]
    assert ready(store, T0 + MINUTE) == [status]
    if store.postgres:
        assert ready(store, T0 + HOUR) == [status]  # its claimer lives: however late, the claim is its own
        end_claimant_session(store)
    with store.read() as unit:
        lapsed = unit.ready_notifications(T0 + MINUTE + SECOND, 10)
    assert [(n.id, n.status) for n in lapsed] == [(page, SENDING), (status, PENDING)]


def test_a_batch_job_is_ready_when_its_poll_is_due(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        ticket = unit.add_notification(event_for(incident, "zendesk", "triggered"))
        assert unit.claim_notifications([ticket], T0 + MINUTE) == [ticket]
        unit.notification_submitted([ticket], "job-1", T0 + 5 * MINUTE, "zendesk")
    submitted = row(store, incident, ticket)
    assert (submitted.status, submitted.job, submitted.provider, submitted.not_before) == (
        SUBMITTED,
        "job-1",
        "zendesk",
        T0 + 5 * MINUTE,
    )
    assert ready(store, T0 + 5 * MINUTE - SECOND) == []
    with store.read() as unit:
        assert unit.next_notification_due() == T0 + 5 * MINUTE
        [due] = unit.ready_notifications(T0 + 5 * MINUTE, 10)
    assert (due.id, due.status, due.job) == (ticket, SUBMITTED, "job-1")

    with store.write() as unit:  # polled: still running, ask again later
        assert unit.claim_notifications([ticket], T0 + 6 * MINUTE) == [ticket]
        assert unit.ready_notifications(T0 + 5 * MINUTE, 10) == []
        unit.notification_submitted([ticket], "job-1", T0 + 10 * MINUTE, "zendesk")
    assert ready(store, T0 + 9 * MINUTE) == []
    assert ready(store, T0 + 10 * MINUTE) == [ticket]
    with store.write() as unit:
        assert unit.claim_notifications([ticket], T0 + 11 * MINUTE) == [ticket]
        unit.notification_sent(ticket, T0 + 10 * MINUTE, "zendesk", "ZD-1")
    done = row(store, incident, ticket)
    assert (done.status, done.job, done.reference, done.sent_at) == (SENT, None, "ZD-1", T0 + 10 * MINUTE)
    assert ready(store, T0 + HOUR) == []


# --- outbound ordering ------------------------------------------------------------------------------


def test_an_event_waits_for_the_earlier_event_of_its_incident_and_provider(store: SqlStore, config: Config) -> None:
    a = open_incident(store, config, key="a")
    b = open_incident(store, config, key="b")
    with store.write() as unit:
        created = unit.add_notification(event_for(a, "zendesk", "triggered"))
        hook = unit.add_notification(event_for(a, "hook", "triggered", "webhook"))
        acked = unit.add_notification(event_for(a, "zendesk", "acknowledged"))
        resolved = unit.add_notification(event_for(a, "zendesk", "resolved"))
        elsewhere = unit.add_notification(event_for(b, "zendesk", "triggered"))
        hook_acked = unit.add_notification(event_for(a, "hook", "acknowledged", "webhook"))
        page = unit.add_notification(page_for(a, "alice"))

    # Pending: only the first event per (incident, provider) goes; pages are never held back.
    assert ready(store, T0) == [page, created, hook, elsewhere]

    with store.write() as unit:  # an earlier event deferred still holds the later ones back
        unit.defer_notifications([created], T0 + 5 * MINUTE)
    assert ready(store, T0 + MINUTE) == [page, hook, elsewhere]

    with store.write() as unit:  # sending (live lease)
        assert unit.claim_notifications([created, hook], T0 + 2 * MINUTE) == [created, hook]
    assert ready(store, T0 + MINUTE) == [page, elsewhere]

    with store.write() as unit:  # submitted to a batch job
        unit.notification_submitted([created], "job-7", T0 + 30 * MINUTE, "zendesk")
    assert ready(store, T0 + MINUTE) == [page, elsewhere]

    send(store, hook, T0 + MINUTE, "hook")  # the webhook's first event went: its next one may go
    assert ready(store, T0 + MINUTE) == [page, elsewhere, hook_acked]

    with store.write() as unit:  # the ticket is created: its update may go, not the one after
        assert unit.claim_notifications([created], T0 + 3 * MINUTE) == [created]
        unit.notification_sent(created, T0 + 2 * MINUTE, "zendesk", "ZD-1")
    assert ready(store, T0 + 2 * MINUTE) == [page, acked, elsewhere, hook_acked]

    with store.write() as unit:  # an earlier event that failed for good no longer holds anything back
        assert unit.claim_notifications([acked], T0 + 4 * MINUTE) == [acked]
        unit.notification_failed(acked, "422 unprocessable")
    assert ready(store, T0 + 3 * MINUTE) == [page, resolved, elsewhere, hook_acked]


# --- claims, deferrals and outcomes -------------------------------------------------------------------


def test_claim_returns_only_the_rows_it_claimed(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        pending = unit.add_notification(page_for(incident, "alice"))
        cancelled = unit.add_notification(page_for(incident, "bob"))
        sent = unit.add_notification(page_for(incident, "carol"))
        unit.notification_cancelled(cancelled, "incident resolved before it was sent")
    send(store, sent, T0)
    with store.write() as unit:
        assert unit.claim_notifications([], T0 + MINUTE) == []
        assert unit.claim_notifications([sent, cancelled, pending], T0 + MINUTE) == [pending]
    assert statuses(store, incident) == {pending: SENDING, cancelled: CANCELLED, sent: SENT}
    assert row(store, incident, cancelled).error == "incident resolved before it was sent"
    if store.postgres:
        end_claimant_session(store)  # on PostgreSQL a claim lasts as long as its claimer's session
    assert ready(store, T0 + HOUR) == [pending]  # the claim lapsed; the others never come back


def test_defer_moves_not_before_of_unsent_rows_only(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        pending = unit.add_notification(page_for(incident, "alice"))
        sent = unit.add_notification(page_for(incident, "bob"))
        cancelled = unit.add_notification(page_for(incident, "carol"))
        ticket = unit.add_notification(event_for(incident, "zendesk", "triggered"))
        unit.notification_cancelled(cancelled, "not needed")
        assert unit.claim_notifications([ticket], T0 + MINUTE) == [ticket]
        unit.notification_submitted([ticket], "job-1", T0 + MINUTE, "zendesk")
    send(store, sent, T0)

    with store.write() as unit:
        unit.defer_notifications([], T0 + HOUR)  # nothing to do
        unit.defer_notifications([pending, sent, cancelled, ticket], T0 + 5 * MINUTE)
    with store.read() as unit:
        after = {n.id: (n.status, n.not_before) for n in unit.notifications(incident)}
    assert after == {
        pending: (PENDING, T0 + 5 * MINUTE),
        sent: (SENT, T0),
        cancelled: (CANCELLED, T0),
        ticket: (SUBMITTED, T0 + 5 * MINUTE),  # the job's poll waits too
    }
    assert ready(store, T0 + 5 * MINUTE - SECOND) == []
    assert ready(store, T0 + 5 * MINUTE) == [pending, ticket]


def test_a_deferred_row_whose_lease_had_lapsed_waits_until_then(store: SqlStore, config: Config) -> None:
    """``ready_notifications`` hands out rows whose lease lapsed; when the dispatcher cannot send one now
    (rate limit, storm window) it defers it, and the row must then wait like any deferred row."""
    incident = open_incident(store, config)
    with store.write() as unit:
        page = unit.add_notification(page_for(incident, "alice"))
        assert unit.claim_notifications([page], T0 + MINUTE) == [page]
    later = T0 + 2 * MINUTE
    if store.postgres:
        end_claimant_session(store)  # on PostgreSQL a claim lasts as long as its claimer's session
    with store.write() as unit:
        assert ids(unit.ready_notifications(later, 10)) == [page]  # the claim lapsed
        unit.defer_notifications([page], later + 5 * MINUTE)
    assert row(store, incident, page).not_before == later + 5 * MINUTE
    assert ready(store, later + MINUTE) == []
    assert ready(store, later + 5 * MINUTE) == [page]


def test_outcomes_change_nothing_unless_the_row_is_being_sent_or_submitted(store: SqlStore, config: Config) -> None:
    """A resolve that cancelled a row while it was out wins over the dispatcher's late outcome; a row
    that is pending or already sent is no outcome's either."""
    incident = open_incident(store, config)
    with store.write() as unit:
        pending = unit.add_notification(page_for(incident, "alice"))
        cancelled = unit.add_notification(page_for(incident, "bob"))
        sent = unit.add_notification(page_for(incident, "carol"))
        assert unit.claim_notifications([cancelled], T0 + MINUTE) == [cancelled]
    send(store, sent, T0)
    with store.write() as unit:
        unit.notification_cancelled(cancelled, "incident resolved before it was sent")
    with store.read() as unit:
        before = unit.notifications(incident)
    assert [n.status for n in before] == [PENDING, CANCELLED, SENT]

    for notification in (pending, cancelled, sent):
        with store.write() as unit:
            unit.notification_retry(
                notification,
                channel_index=1,
                provider_index=1,
                attempts=2,
                not_before=T0 + HOUR,
                error="busy",
                tried_since=T0,
            )
        with store.write() as unit:
            unit.notification_failed(notification, "gave up")
        with store.write() as unit:
            unit.notification_submitted([notification], "job-1", T0 + HOUR, "batch")
    with store.read() as unit:
        assert unit.notifications(incident) == before


def test_outcomes_of_rows_being_sent_or_submitted(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        retried = unit.add_notification(page_for(incident, "alice"))
        failed = unit.add_notification(page_for(incident, "bob"))
        job_retried = unit.add_notification(event_for(incident, "zendesk", "triggered"))
        job_failed = unit.add_notification(event_for(incident, "hook", "triggered", "webhook"))
        claimed = [retried, failed, job_retried, job_failed]
        assert unit.claim_notifications(claimed, T0 + MINUTE) == claimed
        unit.notification_submitted([job_retried, job_failed], "job-1", T0 + 5 * MINUTE, "batch")
    with store.write() as unit:
        unit.notification_retry(
            retried,
            channel_index=1,
            provider_index=1,
            attempts=2,
            not_before=T0 + 2 * MINUTE,
            error="busy",
            tried_since=T0,
        )
        unit.notification_failed(failed, "no channel left")
        unit.notification_retry(
            job_retried,
            channel_index=0,
            provider_index=0,
            attempts=1,
            not_before=T0 + 3 * MINUTE,
            error="job failed",
            tried_since=T0 + MINUTE,
        )
        unit.notification_failed(job_failed, "job rejected")
    with store.read() as unit:
        after = {
            n.id: (n.status, n.channel_index, n.provider_index, n.attempts, n.not_before, n.error, n.job, n.tried_since)
            for n in unit.notifications(incident)
        }
    assert after == {
        retried: (PENDING, 1, 1, 2, T0 + 2 * MINUTE, "busy", None, T0),
        failed: (FAILED, 0, 0, 0, T0, "no channel left", None, None),
        job_retried: (PENDING, 0, 0, 1, T0 + 3 * MINUTE, "job failed", None, T0 + MINUTE),
        job_failed: (FAILED, 0, 0, 0, T0 + 5 * MINUTE, "job rejected", None, None),
    }
    assert ready(store, T0 + 3 * MINUTE) == [retried, job_retried]
    assert ready(store, T0 + 2 * MINUTE) == [retried]


def test_cancel_notifications_leaves_incident_events_alone(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        page = unit.add_notification(page_for(incident, "alice"))
        status = unit.add_notification(page_for(incident, "bob", "status"))
        ticket = unit.add_notification(event_for(incident, "zendesk", "triggered"))
        webhook = unit.add_notification(event_for(incident, "hook", "triggered", "webhook"))
        assert unit.claim_notifications([status, webhook], T0 + MINUTE) == [status, webhook]
    with store.write() as unit:
        assert unit.cancel_notifications(incident) == 2
    assert statuses(store, incident) == {page: CANCELLED, status: CANCELLED, ticket: PENDING, webhook: SENDING}
    if store.postgres:
        end_claimant_session(store)  # on PostgreSQL a claim lasts as long as its claimer's session
    assert ready(store, T0 + 2 * MINUTE) == [ticket, webhook]


# --- outbound references and queue counts -----------------------------------------------------------


def test_outbound_reference_is_the_latest_one_the_provider_returned(store: SqlStore, config: Config) -> None:
    a = open_incident(store, config, key="a")
    b = open_incident(store, config, key="b")
    with store.write() as unit:
        assert unit.outbound_reference(a, "zendesk") is None
        created = unit.add_notification(event_for(a, "zendesk", "triggered"))
        updated = unit.add_notification(event_for(a, "zendesk", "acknowledged"))
        resolved = unit.add_notification(event_for(a, "zendesk", "resolved"))
        other = unit.add_notification(event_for(b, "zendesk", "triggered"))
        hook = unit.add_notification(event_for(a, "hook", "triggered", "webhook"))
    send(store, created, T0, "zendesk", reference="ZD-1")
    send(store, updated, T0 + MINUTE, "zendesk", reference=None)  # an update that returned no id
    send(store, other, T0 + MINUTE, "zendesk", reference="ZD-9")
    send(store, hook, T0 + MINUTE, "hook", reference="delivery-1")
    with store.read() as unit:
        assert unit.outbound_reference(a, "zendesk") == "ZD-1"
        assert unit.outbound_reference(b, "zendesk") == "ZD-9"
        assert unit.outbound_reference(a, "hook") == "delivery-1"
        assert unit.outbound_reference(b, "hook") is None
    send(store, resolved, T0 + 2 * MINUTE, "zendesk", reference="ZD-1b")
    with store.read() as unit:
        assert unit.outbound_reference(a, "zendesk") == "ZD-1b"
        assert unit.outbound_reference(b, "zendesk") == "ZD-9"


def test_queue_counts_group_by_channel_provider_purpose_and_status(store: SqlStore, config: Config) -> None:
    a = open_incident(store, config, key="a")
    b = open_incident(store, config, key="b")
    with store.write() as unit:
        unit.add_notification(page_for(a, "alice"))
        unit.add_notification(page_for(b, "bob"))
        failed_over = unit.add_notification(page_for(a, "carol"))
        sending = unit.add_notification(page_for(b, "dave"))
        sent = unit.add_notification(page_for(a, "erin"))
        unit.add_notification(page_for(a, "alice", "status"))
        unit.add_notification(event_for(a, "zendesk", "triggered"))
        hook = unit.add_notification(event_for(a, "hook", "triggered", "webhook"))
        assert unit.claim_notifications([failed_over, sending, hook], T0 + MINUTE) == [failed_over, sending, hook]
        unit.notification_retry(
            failed_over,
            channel_index=1,
            provider_index=1,
            attempts=0,
            not_before=T0,
            error="sms gave up",
            tried_since=None,
        )
    send(store, sent, T0)
    with store.read() as unit:
        counts = unit.queue_counts()
    expected = [
        QueueCount("email", 1, "page", PENDING, 1),
        QueueCount("hook", 0, "webhook", SENDING, 1),
        QueueCount("sms", 0, "page", PENDING, 2),
        QueueCount("sms", 0, "page", SENDING, 1),
        QueueCount("sms", 0, "page", SENT, 1),
        QueueCount("sms", 0, "status", PENDING, 1),
        QueueCount("zendesk", 0, "ticket", PENDING, 1),
    ]
    assert len(counts) == len(expected)
    assert set(counts) == set(expected)


# --- providers: rate-limit log ------------------------------------------------------------------------


def test_the_rate_limit_log_counts_finished_calls_in_the_window_and_every_call_in_flight(store: SqlStore) -> None:
    with store.write() as unit:
        assert unit.reserve_sends("sms-gw", []) == []
        first, second = unit.reserve_sends("other", [T0, T0 + MINUTE])  # ids in the order of the times
        assert first < second
        unit.release_send(first)
        unit.release_send(second)
        in_flight = unit.reserve_sends("sms-gw", [T0])[0]
        finished = unit.reserve_sends("sms-gw", [T0 + MINUTE])[0]
        unit.finish_send(finished, T0 + 2 * MINUTE)
        crashed = unit.reserve_sends("sms-gw", [T0 - HOUR])[0]  # left by a crash: in flight whatever its time
        old = unit.reserve_sends("sms-gw", [T0 - 10 * MINUTE])[0]
        unit.finish_send(old, T0 - 5 * MINUTE)
        not_made = unit.reserve_sends("sms-gw", [T0 + 3 * MINUTE])[0]
        unit.release_send(not_made)
        unit.reserve_sends("zendesk", [T0 + MINUTE])
        assert len({in_flight, finished, crashed, old, not_made}) == 5
    with store.read() as unit:
        window = sorted(unit.provider_sends("sms-gw", T0 + MINUTE))
        everything = sorted(unit.provider_sends("sms-gw", T0 - 2 * HOUR))
        assert unit.provider_sends("nobody", T0 - 2 * HOUR) == []
    assert window == [(T0 - HOUR, False), (T0, False), (T0 + 2 * MINUTE, True)]
    assert everything == [(T0 - HOUR, False), (T0 - 5 * MINUTE, True), (T0, False), (T0 + 2 * MINUTE, True)]

    with store.write() as unit:
        unit.prune_sends("sms-gw", T0 + 2 * MINUTE, T0 - 30 * MINUTE)
    with store.read() as unit:
        assert sorted(unit.provider_sends("sms-gw", T0 - 2 * HOUR)) == [(T0, False), (T0 + 2 * MINUTE, True)]
        assert unit.provider_sends("zendesk", T0 - 2 * HOUR) == [(T0 + MINUTE, False)]
    with store.write() as unit:
        unit.prune_sends("sms-gw", T0 + 2 * MINUTE + SECOND, T0 + SECOND)
    with store.read() as unit:
        assert unit.provider_sends("sms-gw", T0 - 2 * HOUR) == []
        assert unit.provider_sends("zendesk", T0 - 2 * HOUR) == [(T0 + MINUTE, False)]


# --- providers: throttling and health -----------------------------------------------------------------


def test_provider_state_blocking_failing_and_recovering(store: SqlStore) -> None:
    with store.write() as unit:
        assert unit.provider_state("sms-gw") == ProviderState("sms-gw")
        unit.provider_succeeded("sms-gw", T0)  # healthy (unknown) provider: nothing is written
        assert unit.provider_states() == []

        unit.provider_blocked("zendesk", T0 + 5 * MINUTE)
        unit.provider_blocked("zendesk", T0 + 2 * MINUTE)  # never shortened
        assert unit.provider_state("zendesk").blocked_until == T0 + 5 * MINUTE
        unit.provider_blocked("zendesk", T0 + 10 * MINUTE)
        assert unit.provider_state("zendesk") == ProviderState("zendesk", blocked_until=T0 + 10 * MINUTE)
        unit.provider_succeeded("zendesk", T0 + MINUTE)  # blocked but not failing: nothing to recover from
        assert unit.provider_state("zendesk") == ProviderState("zendesk", blocked_until=T0 + 10 * MINUTE)

        unit.provider_failed("sms-gw", T0, "timeout")
        unit.provider_failed("sms-gw", T0 + MINUTE, "503")
    with store.read() as unit:
        failing = unit.provider_state("sms-gw")
    assert failing == ProviderState(
        "sms-gw", failing_since=T0, last_error="503", last_failure_at=T0 + MINUTE, last_success_at=None
    )

    with store.write() as unit:
        unit.provider_succeeded("sms-gw", T0 + 2 * MINUTE)
    with store.read() as unit:
        recovered = unit.provider_state("sms-gw")
    assert (recovered.failing_since, recovered.last_success_at, recovered.blocked_until) == (
        None,
        T0 + 2 * MINUTE,
        None,
    )
    assert recovered.last_failure_at == T0 + MINUTE

    with store.write() as unit:
        unit.provider_succeeded("sms-gw", T0 + 3 * MINUTE)  # healthy again: not rewritten on every send
        assert unit.provider_state("sms-gw").last_success_at == T0 + 2 * MINUTE
        unit.provider_failed("sms-gw", T0 + 4 * MINUTE, "timeout")  # a new outage starts its own clock
    with store.read() as unit:
        states = unit.provider_states()
    assert [s.name for s in states] == ["sms-gw", "zendesk"]
    assert (states[0].failing_since, states[0].last_error, states[0].last_failure_at) == (
        T0 + 4 * MINUTE,
        "timeout",
        T0 + 4 * MINUTE,
    )
    assert states[1] == ProviderState("zendesk", blocked_until=T0 + 10 * MINUTE)


# --- storm bundles ------------------------------------------------------------------------------------


def test_recent_pages_counts_sent_and_in_flight_pages_and_each_bundle_that_went_out_once(
    store: SqlStore, config: Config
) -> None:
    a = open_incident(store, config, key="a")
    b = open_incident(store, config, key="b")
    c = open_incident(store, config, key="c")
    now = T0 + HOUR
    since = now - 10 * MINUTE
    with store.write() as unit:
        recent = unit.add_notification(page_for(a, "alice"))
        too_old = unit.add_notification(page_for(b, "alice"))
        in_flight = unit.add_notification(page_for(c, "alice"))
        lapsed = unit.add_notification(page_for(a, "alice", at=T0 + MINUTE))
        by_email = unit.add_notification(page_for(b, "alice", at=T0 + MINUTE))
        bob = unit.add_notification(page_for(a, "bob"))
        status = unit.add_notification(page_for(a, "alice", "status"))
        unit.add_notification(page_for(c, "alice", at=T0 + 2 * MINUTE))  # pending: not paged yet
        bundled = [unit.add_notification(page_for(i, "alice", at=T0 + 3 * MINUTE)) for i in (a, b)]
        bundle = unit.add_bundle("alice", "sms", now - MINUTE, now - 72 * HOUR)
        # Bundles that did not go out (no page was sent in them) do not count:
        unit.add_bundle("alice", "sms", now - 2 * MINUTE, now - 72 * HOUR)
        unit.add_bundle("alice", "email", now - 2 * MINUTE, now - 72 * HOUR)
        unit.add_bundle("bob", "sms", now - 2 * MINUTE, now - 72 * HOUR)
    send(store, recent, now - 5 * MINUTE)
    send(store, too_old, now - 20 * MINUTE)
    send(store, bob, now - 3 * MINUTE)
    send(store, status, now - 2 * MINUTE)
    for page in bundled:
        send(store, page, now - MINUTE, bundle=bundle.id)
    with store.write() as unit:
        assert unit.claim_notifications([in_flight], now + 30 * SECOND) == [in_flight]
        assert unit.claim_notifications([lapsed], now - SECOND) == [lapsed]
        assert unit.claim_notifications([by_email], now) == [by_email]
        unit.notification_retry(
            by_email,
            channel_index=1,
            provider_index=0,
            attempts=0,
            not_before=now,
            error="sms gave up",
            tried_since=None,
        )
    send(store, by_email, now - 4 * MINUTE)

    with store.read() as unit:
        sms = sorted(unit.recent_pages("alice", "sms", since, now))
        email = sorted(unit.recent_pages("alice", "email", since, now))
        bobs = sorted(unit.recent_pages("bob", "sms", since, now))
        nobody = unit.recent_pages("carol", "sms", since, now)
    assert sms == [now - 5 * MINUTE, now - MINUTE, now]  # sent, the bundle once, the page in flight
    assert email == [now - 4 * MINUTE]
    assert bobs == [now - 3 * MINUTE]
    assert nobody == []


def sent_bundle(
    store: SqlStore, incident: str, person: str, channel: str, at: datetime, reuse_after: datetime
) -> Bundle:
    """A bundle that went out at ``at``: a page of ``incident`` was sent in it."""
    with store.write() as unit:
        bundle = unit.add_bundle(person, channel, at, reuse_after)
        page = unit.add_notification(page_for(incident, person, at=at))
    send(store, page, at, bundle=bundle.id)
    return bundle


def test_bundle_codes_start_at_100_and_are_not_reused_within_the_window(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    reuse = 72 * HOUR
    first = sent_bundle(store, incident, "alice", "sms", T0, T0 - reuse)
    second = sent_bundle(store, incident, "alice", "sms", T0 + HOUR, T0 + HOUR - reuse)
    bobs = sent_bundle(store, incident, "bob", "voice", T0 + HOUR, T0 + HOUR - reuse)
    assert first == Bundle(first.id, "alice", "sms", 100, T0)
    assert second == Bundle(second.id, "alice", "sms", 101, T0 + HOUR)
    assert bobs == Bundle(bobs.id, "bob", "voice", 100, T0 + HOUR)  # codes are per person
    assert len({first.id, second.id, bobs.id}) == 3

    # 100 went out before the window, 101 within it: 100 again (on any channel)
    third = sent_bundle(store, incident, "alice", "email", T0 + reuse + MINUTE, T0 + MINUTE)
    # now 101 (T0+1h) is out of the window and 100 (just now) is in it
    fourth = sent_bundle(store, incident, "alice", "sms", T0 + reuse + 2 * MINUTE, T0 + HOUR + SECOND)
    # all of them within the window: the next free code
    fifth = sent_bundle(store, incident, "alice", "sms", T0 + reuse + 3 * MINUTE, T0)
    assert (third.code, fourth.code, fifth.code) == (100, 101, 102)

    with store.read() as unit:
        assert unit.bundle("alice", 100) == third  # the latest with that code
        assert unit.bundle("alice", 101) == fourth
        assert unit.bundle("alice", 102) == fifth
        assert unit.bundle("alice", 103) is None
        assert unit.bundle("bob", 100) == bobs
        assert unit.bundle("bob", 101) is None
        assert unit.bundle("carol", 100) is None


def test_a_bundle_that_did_not_go_out_does_not_take_its_code(store: SqlStore, config: Config) -> None:
    """``add_bundle``: "a code no bundle sent to the person since ``reuse_after`` carried". A bundle whose
    send failed (no page was recorded as sent in it) leaves its code free for the retry."""
    incident = open_incident(store, config)
    reuse = 72 * HOUR
    with store.write() as unit:
        failed = unit.add_bundle("alice", "sms", T0, T0 - reuse)
    retried = sent_bundle(store, incident, "alice", "sms", T0 + MINUTE, T0 + MINUTE - reuse)
    assert (failed.code, retried.code) == (100, 100)
    with store.read() as unit:
        assert unit.bundle("alice", 100) == retried


def test_bundle_finds_the_latest_bundle_with_the_code_that_went_out(store: SqlStore, config: Config) -> None:
    """``bundle``: "the person's latest bundle with this code that went out"."""
    incident = open_incident(store, config)
    reuse = 72 * HOUR
    went_out = sent_bundle(store, incident, "alice", "sms", T0, T0 - reuse)
    with store.write() as unit:  # after the reuse window the code is free again; this one's send fails
        failed = unit.add_bundle("alice", "sms", T0 + reuse + MINUTE, T0 + MINUTE)
        never_sent = unit.add_bundle("bob", "sms", T0, T0 - reuse)
    assert (went_out.code, failed.code, never_sent.code) == (100, 100, 100)
    with store.read() as unit:
        assert unit.bundle("alice", 100) == went_out
        assert unit.bundle("bob", 100) is None


def test_bundle_incidents_are_those_of_the_pages_sent_in_it(store: SqlStore, config: Config) -> None:
    a = open_incident(store, config, key="a")
    b = open_incident(store, config, key="b")
    c = open_incident(store, config, key="c")
    with store.write() as unit:
        bundle = unit.add_bundle("alice", "sms", T0, T0 - HOUR)
        other = unit.add_bundle("alice", "sms", T0 + MINUTE, T0 - HOUR)
        empty = unit.add_bundle("alice", "sms", T0 + 2 * MINUTE, T0 - HOUR)
        in_bundle = [unit.add_notification(page_for(i, "alice")) for i in (b, a, a)]
        alone = unit.add_notification(page_for(c, "alice"))
        in_other = unit.add_notification(page_for(c, "alice"))
    for page in in_bundle:
        send(store, page, T0, bundle=bundle.id)
    send(store, alone, T0)
    send(store, in_other, T0 + MINUTE, bundle=other.id)
    with store.read() as unit:
        assert unit.bundle_incidents(bundle.id) == sorted([a, b], key=int)
        assert unit.bundle_incidents(other.id) == [c]
        assert unit.bundle_incidents(empty.id) == []
    assert row(store, a, in_bundle[1]).bundle_id == bundle.id
    assert row(store, c, alone).bundle_id is None


# --- dispatch lock ------------------------------------------------------------------------------------


def test_lock_dispatch_holds_until_the_transaction_ends(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        page = unit.add_notification(page_for(incident, "alice"))

    def try_lock() -> bool:
        with store.engine.connect() as other:
            got = other.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": DISPATCH_LOCK}).scalar_one()
            other.rollback()
        return bool(got)

    with store.write() as unit:  # a whole planning round under the lock
        unit.lock_dispatch()
        if store.postgres:
            assert try_lock() is False  # another instance cannot plan meanwhile
        rows = unit.ready_notifications(T0, 10)
        assert unit.claim_notifications(ids(rows), T0 + MINUTE) == [page]
        unit.lock_dispatch()  # taking it again in the same transaction is fine
    if store.postgres:
        assert try_lock() is True  # released at commit
    assert statuses(store, incident) == {page: SENDING}

    if store.postgres:  # and released at a rollback too
        with pytest.raises(RuntimeError), store.write() as unit:
            unit.lock_dispatch()
            assert try_lock() is False
            raise RuntimeError("roll back")
        assert try_lock() is True
