"""The storage adapter (SqlStore) against a real database: SQLite always, PostgreSQL when
MEMOGUARD_TEST_DATABASE_URL is set. Every test gets an empty database created at head by
``bootstrap.store`` and works through the storage port, one transaction per ``with`` block."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import StatementError

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.config.model import Config
from memoguard.domain.event import TimerKind
from memoguard.domain.incident import IncidentState
from memoguard.services.record import (
    DueTimer,
    NewIncident,
    NotificationDraft,
    NotificationStatus,
    StoredOverride,
)
from memoguard.services.store import OpenIncidentExists, Unit
from tests.support.claims import end_claimant_session

REPO = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


class Boom(Exception):
    """Raised inside a transaction to make it roll back."""


def new_incident(
    config: Config, policy: str = "simple", key: str = "disk-full", source: str = "monitoring", at: datetime = T0
) -> NewIncident:
    chosen = config.policy(policy)
    return NewIncident(
        summary=f"{key} ({policy})",
        severity="critical",
        source=source,
        dedup_key=key,
        resolve_by_source=True,
        policy=chosen,
        rosters=tuple(config.roster(name) for name in sorted(chosen.roster_names)),
        opened_at=at,
    )


def open_incident(
    store: SqlStore,
    config: Config,
    policy: str = "simple",
    key: str = "disk-full",
    source: str = "monitoring",
    at: datetime = T0,
) -> str:
    with store.write() as unit:
        return unit.create_incident(new_incident(config, policy, key, source, at))


def page_for(incident: str, person: str, purpose: str = "page", at: datetime = T0) -> NotificationDraft:
    return NotificationDraft(
        incident=incident,
        person=person,
        channels=("sms", "email"),
        purpose=purpose,
        step=0,
        cycle=0,
        reason="triggered",
        subject=f"[memoguard #{incident}] disk full",
        text=f"{purpose} for {person}",
        created_at=at,
    )


# --- times --------------------------------------------------------------------------------------------


def open_id(unit: Unit, source: str, dedup_key: str) -> str | None:
    found = unit.open_incidents([(source, dedup_key)]).get((source, dedup_key))
    return None if found is None else found.incident.id


def test_times_go_in_aware_in_any_zone_and_come_back_aware_utc(store: SqlStore, config: Config) -> None:
    opened = datetime(2026, 11, 17, 11, 0, 0, 123456, tzinfo=PARIS)  # winter: 10:00:00.123456 UTC
    due = datetime(2026, 7, 1, 2, 30, tzinfo=PARIS)  # summer: 00:30 UTC
    incident = open_incident(store, config, at=opened)
    with store.write() as unit:
        unit.add_timer(incident, TimerKind.ACK_TIMEOUT, due, 1)
        unit.add_entry(incident, opened, "note", "a note", None)
        unit.add_notification(page_for(incident, "alice", at=opened))
    with store.read() as unit:
        row = unit.incident_row(incident)
        assert row is not None
        values = {
            "opened_at": (row.incident.opened_at, opened),
            "updated_at": (row.updated_at, opened),
            "timer": (unit.timers(incident)[0].due_at, due),
            "next_timer_due": (unit.next_timer_due(), due),
            "timeline": (unit.timeline(incident)[0].at, opened),
            "notification": (unit.notifications(incident)[0].created_at, opened),
            "next_notification_due": (unit.next_notification_due(), opened),
        }
    for name, (value, expected) in values.items():
        assert value == expected, name
        assert value is not None and value.tzinfo is UTC, f"{name}: {value!r} is not aware UTC"
    assert row.incident.opened_at.isoformat() == "2026-11-17T10:00:00.123456+00:00"
    timer_due = values["timer"][0]
    assert timer_due is not None and timer_due.isoformat() == "2026-07-01T00:30:00+00:00"


def test_a_naive_time_is_refused_and_nothing_is_written(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with pytest.raises(StatementError, match="naive datetime"), store.write() as unit:
        unit.add_entry(incident, T0, "note", "written first", None)
        unit.add_timer(incident, TimerKind.ACK_TIMEOUT, datetime(2026, 11, 17, 10, 5), 1)
    with store.read() as unit:
        assert unit.timers(incident) == []
        assert unit.timeline(incident) == []


# --- incidents ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("directory", ["service", "repository"])
def test_the_policy_and_roster_copies_read_back_equal(
    store: SqlStore, config: Config, service_dir: Path, directory: str
) -> None:
    """Every policy of the service fixture and of the repository's example configuration (layers with
    time windows and public holidays, YAML overrides, levels), read back by a store with a cold cache."""
    source = config if directory == "service" else bootstrap.load(REPO)
    opened = {name: open_incident(store, source, policy=name, key=name) for name in sorted(source.policies)}
    reopened = bootstrap.store(bootstrap.load(service_dir))
    try:
        with reopened.read() as unit:
            for name, incident in opened.items():
                row = unit.incident_row(incident)
                assert row is not None
                policy = source.policy(name)
                assert row.incident.policy == policy
                assert row.incident.rosters == tuple(source.roster(r) for r in sorted(policy.roster_names))
                assert row.incident.state == IncidentState.TRIGGERED
                assert (row.source, row.dedup_key, row.resolve_by_source) == ("monitoring", name, True)
    finally:
        reopened.close()


def test_editing_the_configuration_does_not_change_a_stored_incident(
    store: SqlStore, config: Config, service_dir: Path
) -> None:
    incident = open_incident(store, config, policy="double")
    (service_dir / "rosters" / "ops.yaml").write_text(
        "name: ops\ntimezone: UTC\nlayers:\n"
        '  - {name: day, members: [carol, dave], shift: 1d, handoff: "08:00", start: 2026-01-05}\n'
        "levels:\n  secondary: {offset: 1}\n",
        encoding="utf-8",
    )
    (service_dir / "escalation_policies" / "double.yaml").write_text(
        "name: double\nacknowledgement: {mode: double, confirm_within: 30m}\n"
        'steps:\n  - {notify: ["person:dave"], channels: [sms], ack_within: 15m}\n',
        encoding="utf-8",
    )
    edited = bootstrap.load(service_dir)
    assert edited.policy("double") != config.policy("double")
    assert edited.roster("ops") != config.roster("ops")

    reopened = bootstrap.store(edited)
    try:
        with reopened.read() as unit:
            stored = unit.incident(incident)
    finally:
        reopened.close()
    assert stored is not None
    assert stored.policy == config.policy("double")
    assert stored.rosters == (config.roster("ops"),)
    oncall = stored.roster("ops").oncall(T0)
    assert oncall is not None
    assert oncall.person == "alice"


def test_an_incident_id_reused_after_a_rollback_reads_its_own_copy(store: SqlStore, config: Config) -> None:
    """SQLite gives the id of an incident created in a rolled-back transaction to the next incident; the
    store's cache of decoded copies must not hand the new incident the rolled-back one's policy."""
    with pytest.raises(Boom), store.write() as unit:
        doomed = unit.create_incident(new_incident(config, policy="double"))
        found = unit.incident(doomed)
        assert found is not None and found.policy.name == "double"
        raise Boom
    kept = open_incident(store, config, policy="crisis")
    with store.read() as unit:
        incident = unit.incident(kept)
        assert incident is not None
        assert incident.policy == config.policy("crisis")


def test_at_most_one_open_incident_per_source_and_dedup_key(store: SqlStore, config: Config) -> None:
    """The partial unique index refuses a second open incident for a key; the store turns that into
    OpenIncidentExists and leaves the transaction usable (ingest then joins the open incident)."""
    first = open_incident(store, config, key="disk-full")
    with store.write() as unit:
        with pytest.raises(OpenIncidentExists, match="monitoring/disk-full"):
            unit.create_incident(new_incident(config, key="disk-full"))
        unit.add_entry(first, T0, "note", "written after the refusal, same transaction", None)
    with store.read() as unit:
        assert [entry.kind for entry in unit.timeline(first)] == ["note"]
        assert [row.incident.id for row in unit.incidents([], 10)] == [first]
    # The same key from another source, or another key, is another incident.
    elsewhere = open_incident(store, config, key="disk-full", source="prometheus")
    other_key = open_incident(store, config, key="cpu-high")
    assert len({first, elsewhere, other_key}) == 3
    with store.read() as unit:
        assert open_id(unit, "monitoring", "disk-full") == first
        assert open_id(unit, "prometheus", "disk-full") == elsewhere

    with store.write() as unit:
        incident = unit.incident(first)
        assert incident is not None
        unit.save_incident(replace(incident, state=IncidentState.RESOLVED), T0 + MINUTE)
    with store.read() as unit:
        assert open_id(unit, "monitoring", "disk-full") is None

    second = open_incident(store, config, key="disk-full", at=T0 + 2 * MINUTE)
    assert second != first
    with store.read() as unit:
        assert open_id(unit, "monitoring", "disk-full") == second
        resolved = unit.incident_row(first)
        assert resolved is not None
        assert resolved.incident.state == IncidentState.RESOLVED
        assert resolved.resolved_at == T0 + MINUTE
    with pytest.raises(OpenIncidentExists), store.write() as unit:
        unit.create_incident(new_incident(config, key="disk-full"))


# --- timers -------------------------------------------------------------------------------------------


def test_claim_due_timers_returns_the_earliest_first_and_deletes_them(store: SqlStore, config: Config) -> None:
    a = open_incident(store, config, key="a")
    b = open_incident(store, config, key="b")
    with store.write() as unit:  # written in another order than they fall due
        unit.add_timer(a, TimerKind.ACK_TIMEOUT, T0 + 3 * MINUTE, 1)
        unit.add_timer(b, TimerKind.CONFIRM_TIMEOUT, T0 + 1 * MINUTE, 2)
        unit.add_timer(a, TimerKind.ACK_EXPIRY, T0 + 2 * MINUTE, 1)
        unit.add_timer(b, TimerKind.ACK_EXPIRY, T0 + 2 * MINUTE, 2)
        unit.add_timer(b, TimerKind.ACK_TIMEOUT, T0 + 10 * MINUTE, 2)

    with store.write() as unit:
        assert unit.claim_due_timers(T0, 10) == []
        # "now" given in another zone: 10:05 UTC is 11:05 in Paris.
        first = unit.claim_due_timers((T0 + 5 * MINUTE).astimezone(PARIS), 2)
    assert first == [
        DueTimer(b, TimerKind.CONFIRM_TIMEOUT, T0 + 1 * MINUTE, 2),
        DueTimer(a, TimerKind.ACK_EXPIRY, T0 + 2 * MINUTE, 1),
    ]
    with store.write() as unit:
        rest = unit.claim_due_timers(T0 + 5 * MINUTE, 10)
    assert rest == [
        DueTimer(b, TimerKind.ACK_EXPIRY, T0 + 2 * MINUTE, 2),
        DueTimer(a, TimerKind.ACK_TIMEOUT, T0 + 3 * MINUTE, 1),
    ]
    with store.write() as unit:
        assert unit.claim_due_timers(T0 + 5 * MINUTE, 10) == []
    with store.read() as unit:
        assert unit.timers(a) == []
        assert unit.timers(b) == [DueTimer(b, TimerKind.ACK_TIMEOUT, T0 + 10 * MINUTE, 2)]
        assert unit.next_timer_due() == T0 + 10 * MINUTE


def test_a_rolled_back_transaction_puts_claimed_timers_back(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    timers = [
        DueTimer(incident, TimerKind.CONFIRM_TIMEOUT, T0 + 1 * MINUTE, 3),
        DueTimer(incident, TimerKind.ACK_EXPIRY, T0 + 2 * MINUTE, 3),
    ]
    with store.write() as unit:
        for timer in timers:
            unit.add_timer(timer.incident, timer.kind, timer.due_at, timer.version)

    with pytest.raises(Boom), store.write() as unit:
        assert unit.claim_due_timers(T0 + 5 * MINUTE, 10) == timers
        assert unit.timers(incident) == []  # gone inside the transaction…
        raise Boom
    with store.read() as unit:
        assert unit.timers(incident) == timers  # …and back after the rollback
    with store.write() as unit:
        assert unit.claim_due_timers(T0 + 5 * MINUTE, 10) == timers
    with store.read() as unit:
        assert unit.timers(incident) == []


def test_cancel_timers_removes_only_that_incidents_timers(store: SqlStore, config: Config) -> None:
    a = open_incident(store, config, key="a")
    b = open_incident(store, config, key="b")
    with store.write() as unit:
        unit.add_timer(a, TimerKind.ACK_TIMEOUT, T0 + MINUTE, 1)
        unit.add_timer(a, TimerKind.ACK_EXPIRY, T0 + 2 * MINUTE, 1)
        unit.add_timer(b, TimerKind.ACK_TIMEOUT, T0 + MINUTE, 1)
        unit.cancel_timers(a)
    with store.read() as unit:
        assert unit.timers(a) == []
        assert unit.timers(b) == [DueTimer(b, TimerKind.ACK_TIMEOUT, T0 + MINUTE, 1)]


# --- outbox -------------------------------------------------------------------------------------------


def test_claimed_notifications_are_leased_until_the_lease_lapses(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        notification = unit.add_notification(page_for(incident, "alice"))
    lease = timedelta(seconds=30)

    with store.write() as unit:
        ready = unit.ready_notifications(T0, 10)
        assert [(n.id, n.status, n.channel) for n in ready] == [(notification, NotificationStatus.PENDING, "sms")]
        assert unit.claim_notifications([n.id for n in ready], T0 + lease) == [notification]
    with store.read() as unit:
        [claimed] = unit.notifications(incident)
        assert (claimed.status, claimed.attempts) == (NotificationStatus.SENDING, 0)  # a claim is not an attempt
        assert unit.ready_notifications(T0 + timedelta(seconds=29), 10) == []
        assert unit.ready_notifications(T0 + lease, 10) == []  # lapses only after ``lease_until``

    later = T0 + lease + timedelta(seconds=1)
    if store.postgres:
        with store.read() as unit:
            assert unit.ready_notifications(later, 10) == []  # its claimer's session lives: no lease lapses
        end_claimant_session(store)  # on PostgreSQL a claim ends with its claimer's session
    with store.write() as unit:
        again = unit.ready_notifications(later, 10)
        assert [(n.id, n.status) for n in again] == [(notification, NotificationStatus.SENDING)]
        assert unit.claim_notifications([notification], later + lease) == [notification]
        assert unit.ready_notifications(later, 10) == []

    with store.write() as unit:
        unit.notification_sent(notification, later, "console")
        assert unit.ready_notifications(later + 10 * lease, 10) == []
    with store.read() as unit:
        [sent] = unit.notifications(incident)
    assert (sent.status, sent.attempts, sent.sent_at, sent.provider) == (NotificationStatus.SENT, 0, later, "console")


def test_ready_notifications_are_pages_before_status_messages_oldest_first(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        status = unit.add_notification(page_for(incident, "alice", "status", at=T0))
        late_page = unit.add_notification(page_for(incident, "bob", "page", at=T0 + MINUTE))
        early_page = unit.add_notification(page_for(incident, "carol", "page", at=T0))
        future = unit.add_notification(page_for(incident, "dave", "page", at=T0 + 10 * MINUTE))
    with store.read() as unit:
        first = unit.ready_notifications(T0 + MINUTE, 2)
        everything = unit.ready_notifications(T0 + MINUTE, 10)
    assert [n.id for n in first] == [early_page, late_page]
    assert [n.id for n in everything] == [early_page, late_page, status]  # reading claims nothing
    with store.write() as unit:
        assert unit.claim_notifications([early_page, late_page], T0 + 20 * MINUTE) == sorted([early_page, late_page])
        assert [n.id for n in unit.ready_notifications(T0 + MINUTE, 10)] == [status]
        assert [n.id for n in unit.ready_notifications(T0 + 10 * MINUTE, 10)] == [future, status]
    with store.read() as unit:
        waiting = [n for n in unit.notifications(incident) if n.id == future]
    assert [n.status for n in waiting] == [NotificationStatus.PENDING]


def test_cancel_notifications_cancels_pending_and_sending_ones(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config, key="a")
    other = open_incident(store, config, key="b")
    with store.write() as unit:
        sent = unit.add_notification(page_for(incident, "alice"))
        sending = unit.add_notification(page_for(incident, "bob"))
    with store.write() as unit:
        assert [n.id for n in unit.ready_notifications(T0, 10)] == [sent, sending]
        assert unit.claim_notifications([sent, sending], T0 + MINUTE) == [sent, sending]
        unit.notification_sent(sent, T0, "console")
    with store.write() as unit:
        pending = unit.add_notification(page_for(incident, "carol", at=T0 + MINUTE))
        retrying = unit.add_notification(page_for(incident, "dave", at=T0 + MINUTE))
        untouched = unit.add_notification(page_for(other, "alice", at=T0 + MINUTE))
        assert unit.claim_notifications([retrying], T0 + 2 * MINUTE) == [retrying]
        unit.notification_retry(
            retrying,
            channel_index=1,
            provider_index=0,
            attempts=0,
            not_before=T0 + 5 * MINUTE,
            error="gateway busy",
            tried_since=None,
        )

    with store.write() as unit:
        assert unit.cancel_notifications(incident) == 3
    with store.read() as unit:
        statuses = {n.id: n.status for n in [*unit.notifications(incident), *unit.notifications(other)]}
    assert statuses == {
        sent: NotificationStatus.SENT,
        sending: NotificationStatus.CANCELLED,
        pending: NotificationStatus.CANCELLED,
        retrying: NotificationStatus.CANCELLED,
        untouched: NotificationStatus.PENDING,
    }
    with store.write() as unit:  # even once the lease on ``sending`` has lapsed, it is not handed out again
        assert [n.id for n in unit.ready_notifications(T0 + 10 * MINUTE, 10)] == [untouched]
        assert unit.claim_notifications([sending, pending, retrying, untouched], T0 + 11 * MINUTE) == [untouched]
        assert unit.cancel_notifications(incident) == 0
    with store.write() as unit:  # the send that was in flight finishes: sent, and a late failure changes nothing
        unit.notification_sent(sending, T0 + MINUTE, "console")
        unit.notification_failed(pending, "too late")
    with store.read() as unit:
        after = {n.id: n.status for n in unit.notifications(incident)}
    assert after[sending] == NotificationStatus.SENT
    assert after[pending] == NotificationStatus.CANCELLED


def test_a_retry_stores_the_channel_provider_and_attempts_the_dispatcher_chose(store: SqlStore, config: Config) -> None:
    """The dispatcher counts attempts and picks the next channel and provider; the store keeps what it is
    told. Failing over to another channel starts the count again (attempts 0, no failover deadline)."""
    incident = open_incident(store, config)
    with store.write() as unit:
        page = unit.add_notification(page_for(incident, "alice"))
        assert unit.claim_notifications([page], T0 + MINUTE) == [page]
        unit.notification_retry(
            page,
            channel_index=0,
            provider_index=1,
            attempts=3,
            not_before=T0 + 4 * MINUTE,
            error="busy",
            tried_since=T0 + MINUTE,
        )
    with store.read() as unit:
        assert unit.ready_notifications(T0 + 3 * MINUTE, 10) == []
        [retried] = unit.ready_notifications(T0 + 4 * MINUTE, 10)
    assert (retried.id, retried.status, retried.channel, retried.provider_index) == (
        page,
        NotificationStatus.PENDING,
        "sms",
        1,
    )
    assert (retried.attempts, retried.error, retried.tried_since, retried.not_before) == (
        3,
        "busy",
        T0 + MINUTE,
        T0 + 4 * MINUTE,
    )

    with store.write() as unit:
        assert unit.claim_notifications([page], T0 + 5 * MINUTE) == [page]
        unit.notification_retry(
            page,
            channel_index=1,
            provider_index=0,
            attempts=0,
            not_before=T0 + 4 * MINUTE,
            error="gave up on sms",
            tried_since=None,
        )
    with store.read() as unit:
        [moved] = unit.ready_notifications(T0 + 4 * MINUTE, 10)
    assert (moved.channel_index, moved.channel, moved.provider_index, moved.attempts, moved.tried_since) == (
        1,
        "email",
        0,
        0,
        None,
    )
    assert moved.error == "gave up on sms"


def test_a_claim_can_be_renewed_only_while_it_is_held(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        page = unit.add_notification(page_for(incident, "alice"))
        assert not unit.renew_claim(page, T0 + MINUTE)  # pending: nobody holds it
        assert unit.claim_notifications([page], T0 + MINUTE) == [page]
        assert unit.renew_claim(page, T0 + 2 * MINUTE)
        assert unit.ready_notifications(T0 + MINUTE + timedelta(seconds=30), 10) == []  # the renewed lease holds
        lapsed = [n.id for n in unit.ready_notifications(T0 + 2 * MINUTE + timedelta(seconds=1), 10)]
        assert lapsed == ([] if store.postgres else [page])  # PostgreSQL: held while its claimer's session lives
        assert unit.cancel_notifications(incident) == 1
        assert not unit.renew_claim(page, T0 + 3 * MINUTE)


def test_orphaned_claims_come_back_at_once_on_sqlite_only(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        page = unit.add_notification(page_for(incident, "alice"))
        assert unit.claim_notifications([page], T0 + MINUTE) == [page]
        released = unit.release_orphaned_claims()
    with store.read() as unit:
        [row] = unit.notifications(incident)
        ready = [n.id for n in unit.ready_notifications(T0, 10)]
    if store.postgres:
        assert (released, row.status, ready) == (0, NotificationStatus.SENDING, [])
    else:
        assert (released, row.status, row.id, ready) == (1, NotificationStatus.PENDING, page, [page])


# --- overrides ----------------------------------------------------------------------------------------


def test_overrides_are_added_listed_and_removed(store: SqlStore) -> None:
    start = datetime(2026, 12, 24, 18, 0, tzinfo=PARIS)
    with store.write() as unit:
        christmas = unit.add_override("ops", "carol", start, start + timedelta(days=2), "primary", "swap", T0)
        earlier = unit.add_override("ops", "dave", start - timedelta(days=7), start, "secondary", "", T0)
        boxing_day = start + timedelta(days=1)
        elsewhere = unit.add_override("dba", "bob", boxing_day, boxing_day + timedelta(days=2), "primary", "", T0)

    with store.read() as unit:
        assert [o.id for o in unit.overrides()] == [earlier, christmas, elsewhere]
        assert [o.id for o in unit.overrides("ops")] == [earlier, christmas]
        assert unit.overrides("nope") == []
        stored = unit.overrides("ops")[1]
    expected = StoredOverride(christmas, "ops", "carol", start, start + timedelta(days=2), "primary", "swap", T0)
    assert stored == expected
    assert stored.start.tzinfo is UTC
    assert stored.start.isoformat() == "2026-12-24T17:00:00+00:00"

    with store.write() as unit:
        assert unit.remove_override(christmas) == expected
    with store.write() as unit:
        assert unit.remove_override(christmas) is None
    with store.read() as unit:
        assert [o.id for o in unit.overrides()] == [earlier, elsewhere]


def test_overrides_for_a_decision_are_one_rosters_in_force_and_see_this_transactions_changes(store: SqlStore) -> None:
    start = datetime(2026, 12, 24, 18, 0, tzinfo=PARIS)
    with store.write() as unit:
        ended = unit.add_override("ops", "dave", start - timedelta(days=7), start, "secondary", "", T0)
        running = unit.add_override("ops", "carol", start - HOUR, start + timedelta(days=2), "primary", "", T0)
        unit.add_override("ops", "bob", start + HOUR, start + 2 * HOUR, "primary", "", T0)  # not yet
        unit.add_override("dba", "bob", start, start + timedelta(days=2), "primary", "", T0)
    with store.write() as unit:
        assert [o.id for o in unit.overrides("ops", covering=start)] == [running]
        assert [o.id for o in unit.overrides("ops", covering=start - MINUTE)] == [ended, running]
        now = unit.add_override("ops", "alice", start, start + HOUR, "primary", "", T0)
        assert [o.id for o in unit.overrides("ops", covering=start)] == [running, now]
        unit.remove_override(running)
        assert [o.id for o in unit.overrides("ops", covering=start)] == [now]


def test_overrides_in_force_read_several_rosters_at_once_and_see_this_transactions_changes(store: SqlStore) -> None:
    start = datetime(2026, 12, 24, 18, 0, tzinfo=PARIS)
    with store.write() as unit:
        unit.add_override("ops", "dave", start - timedelta(days=7), start, "secondary", "", T0)  # ended
        ops = unit.add_override("ops", "carol", start - HOUR, start + timedelta(days=2), "primary", "", T0)
        unit.add_override("ops", "bob", start + HOUR, start + 2 * HOUR, "primary", "", T0)  # not yet
        dba = unit.add_override("dba", "bob", start - 2 * HOUR, start + timedelta(days=2), "primary", "", T0)
        unit.add_override("web", "erin", start - HOUR, start + HOUR, "primary", "", T0)  # not asked for
    with store.write() as unit:
        assert [o.id for o in unit.overrides_in_force(["ops", "dba", "nope"], start)] == [dba, ops]
        assert [o.id for o in unit.overrides_in_force(["ops"], start)] == [ops]
        assert unit.overrides_in_force([], start) == []
        added = unit.add_override("ops", "alice", start, start + HOUR, "primary", "", T0)
        assert [o.id for o in unit.overrides_in_force(["ops", "dba"], start)] == [dba, ops, added]
        unit.remove_override(dba)
        assert [o.id for o in unit.overrides_in_force(["dba", "ops"], start)] == [ops, added]
        assert [o.id for o in unit.overrides_in_force(["ops"], start + timedelta(days=3))] == []


# --- held writes (adapters/storage/batch.py): sent in order before a read; pipelined on PostgreSQL ------


def test_held_writes_of_several_statements_land_in_order_and_a_read_sees_them(store: SqlStore, config: Config) -> None:
    incident = open_incident(store, config)
    with store.write() as unit:
        for minute in range(3):  # alternating statements: none can be combined with the one before
            unit.add_entry(incident, T0 + minute * MINUTE, "note", f"note {minute}", None)
            unit.add_timer(incident, TimerKind.ACK_TIMEOUT, T0 + (minute + 10) * MINUTE, 1)
        unit.cancel_timers(incident)
        unit.add_timer(incident, TimerKind.ACK_TIMEOUT, T0 + HOUR, 1)
        read = unit.incident(incident)
    assert read is not None
    with store.read() as unit:
        notes = [entry.text for entry in unit.timeline(incident) if entry.kind == "note"]
        assert notes == ["note 0", "note 1", "note 2"]
    with store.write() as unit:
        due = unit.claim_due_timers(T0 + 2 * HOUR, 10)
    assert [timer.due_at for timer in due] == [T0 + HOUR]  # the three before the cancel were cancelled


def test_a_held_write_the_database_refuses_raises_and_rolls_the_transaction_back(
    store: SqlStore, config: Config
) -> None:
    incident = open_incident(store, config)
    with pytest.raises(StatementError), store.write() as unit:
        unit.add_entry(incident, T0, "note", "kept only if all is", None)
        unit.add_timer(incident, TimerKind.ACK_TIMEOUT, T0 + HOUR, 1)
        unit.add_entry("999999", T0, "note", "no such incident: a foreign key violation", None)
    with store.read() as unit:
        assert [entry.text for entry in unit.timeline(incident) if entry.kind == "note"] == []
    with store.write() as unit:
        assert unit.claim_due_timers(T0 + 2 * HOUR, 10) == []
