"""The tables, as sqlmodel models. Domain objects never see them: ``store`` maps between the two.

Times are stored in UTC (``UtcDateTime``): SQLite has no time zones, so an aware value goes in as naive
UTC and comes back aware. Lists and the incident's policy/roster snapshot are JSON text, written once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Dialect, Index, Integer, LargeBinary, Text, TypeDecorator, text
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored: every stored time is an instant")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


class IncidentTable(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        # At most one open incident per dedup key, even with several instances on one PostgreSQL.
        Index(
            "ix_incident_open_key",
            "source",
            "dedup_key",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
        # From revision 0009: the oldest incident open (per state) or resolved lately, for reply codes;
        # (state, id) replaces the index on state alone, which every incident update also maintained.
        Index("ix_incident_state_id", "state", "id"),
        Index("ix_incident_resolved_at", "resolved_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=200)
    dedup_key: str = Field(max_length=255)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    severity: str = Field(max_length=50)
    policy: str = Field(max_length=200)
    snapshot: str = Field(sa_column=Column(Text, nullable=False))
    resolve_by_source: bool
    state: str = Field(max_length=20)  # indexed with id: ix_incident_state_id (revision 0009)
    version: int
    cycle: int
    step: int
    crisis: bool
    paged: str = Field(sa_column=Column(Text, nullable=False))
    stage_paged: str = Field(sa_column=Column(Text, nullable=False))
    undeliverable: str = Field(sa_column=Column(Text, nullable=False))
    acked_by: str = Field(sa_column=Column(Text, nullable=False))
    confirmed_by: str = Field(sa_column=Column(Text, nullable=False))
    opened_at: datetime = _when()
    updated_at: datetime = _when()
    resolved_at: datetime | None = _when(nullable=True)


class AlarmTable(SQLModel, table=True):
    __tablename__ = "alarm"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=200)
    dedup_key: str = Field(max_length=255)
    status: str = Field(max_length=20)
    severity: str = Field(max_length=50)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    details: str = Field(sa_column=Column(Text, nullable=False))
    labels: str = Field(sa_column=Column(Text, nullable=False))
    outcome: str = Field(max_length=20)
    received_at: datetime = _when()
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)


class TimelineTable(SQLModel, table=True):
    __tablename__ = "timeline"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    at: datetime = _when()
    kind: str = Field(max_length=50)
    text: str = Field(sa_column=Column(Text, nullable=False))
    person: str | None = Field(default=None, max_length=200)


class TimerTable(SQLModel, table=True):
    __tablename__ = "timer"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    kind: str = Field(max_length=30)
    due_at: datetime = _when(index=True)
    version: int


class NotificationTable(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_queue", "status", "priority", "not_before"),
        # From revision 0009: a person's pages sent within a storm window, and a bundle's pages.
        Index("ix_notification_person_sent", "person", "status", "sent_at"),
        Index("ix_notification_bundle", "bundle_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Nullable from revision 0012: a sign-in code is a message to a person about no incident.
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    person: str = Field(max_length=200)
    channels: str = Field(sa_column=Column(Text, nullable=False))
    channel_index: int
    purpose: str = Field(max_length=20)
    priority: int
    step: int | None = None
    cycle: int
    reason: str = Field(max_length=50)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=20)
    attempts: int
    created_at: datetime = _when()
    not_before: datetime = _when()
    claimed_until: datetime | None = _when(nullable=True)
    sent_at: datetime | None = _when(nullable=True)
    provider: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # From revision 0002: the provider within the channel, failover deadline, events and batch jobs.
    provider_index: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    tried_since: datetime | None = _when(nullable=True)
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    job: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    bundle_id: int | None = None  # the bundle this page went out in (see BundleTable)
    # From revision 0003: the network's last word on it (an SMS delivery receipt).
    receipt: str | None = Field(default=None, max_length=20)
    receipt_at: datetime | None = _when(nullable=True)
    # From revision 0006: a page's stage, as the incident version its paging ended at (domain.stage).
    stage_version: int | None = None

    # From revision 0007: calls made to providers for it, whichever provider (``attempts`` counts the
    # failures on the current one, for its backoff, and starts again at a failover).
    tries: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # From revision 0008: the token of the dispatcher whose claim this is (see adapters/storage/claim.py).
    claimed_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ProviderStateTable(SQLModel, table=True):
    """What every instance must agree on about a provider: when it may be called again after saying
    "slow down", and since when it has been failing."""

    __tablename__ = "provider_state"

    name: str = Field(primary_key=True, max_length=200)
    blocked_until: datetime | None = _when(nullable=True)
    failing_since: datetime | None = _when(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_success_at: datetime | None = _when(nullable=True)
    last_failure_at: datetime | None = _when(nullable=True)


class ProviderSendTable(SQLModel, table=True):
    """One call to a provider, for its rate limits: reserved before the call (``done`` false), then
    stamped with the time the call ended, which is no earlier than the provider saw it."""

    __tablename__ = "provider_send"
    __table_args__ = (Index("ix_provider_send_window", "provider", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=200)
    at: datetime = _when()
    done: bool = False
    claimed_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # from 0008


class BundleTable(SQLModel, table=True):
    """Pages sent to one person as one message during a storm; ``code`` acknowledges them all."""

    __tablename__ = "bundle"
    __table_args__ = (
        Index("ix_bundle_person_code", "person", "code"),
        # From revision 0009: a person's bundles within the code reuse window.
        Index("ix_bundle_person_created", "person", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person: str = Field(max_length=200)
    channel: str = Field(max_length=200)
    code: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = _when()


class OverrideTable(SQLModel, table=True):
    __tablename__ = "override"
    # Decisions read the overrides of one roster in force now: not ended, then started (revision 0004).
    __table_args__ = (Index("ix_override_roster_end", "roster", "end_at"),)

    id: int | None = Field(default=None, primary_key=True)
    roster: str = Field(max_length=200, index=True)
    who: str = Field(max_length=200)
    level: str = Field(max_length=200)
    start_at: datetime = _when()
    end_at: datetime = _when()
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _when()


class ReplyCodeTable(SQLModel, table=True):
    """Short codes people quote in SMS replies (``12a``): one per phone number and incident, held while
    the incident is open and for 72 hours after its last page (``expires_at``), so a late reply never
    reaches another incident. ``person`` is who the number was paged as (from revision 0003)."""

    __tablename__ = "reply_code"
    __table_args__ = (
        Index("ix_reply_code_phone_code", "phone", "code"),
        # From revision 0009: a number's codes paged lately, and those of its live incidents.
        Index("ix_reply_code_phone_expiry", "phone", "expires_at"),
        Index("ix_reply_code_phone_incident", "phone", "incident_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20)
    code: int = Field(sa_column=Column(Integer, nullable=False))
    incident_id: int = Field(foreign_key="incident.id", index=True)
    created_at: datetime = _when()
    expires_at: datetime = _when()
    person: str | None = Field(default=None, max_length=200)


class OptOutTable(SQLModel, table=True):
    """Phone numbers that answered STOP: they get pages only, no other SMS, until they answer START."""

    __tablename__ = "sms_opt_out"

    phone: str = Field(primary_key=True, max_length=20)
    since: datetime = _when()


class ProviderMessageTable(SQLModel, table=True):
    """The provider's ids of a sent notification (one per SMS part), to match delivery receipts."""

    __tablename__ = "provider_message"
    __table_args__ = (Index("ix_provider_message_id", "provider", "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=200)
    message_id: str = Field(max_length=200)
    notification_id: int = Field(sa_column=Column(Integer, nullable=False))


class SmsPartTable(SQLModel, table=True):
    """One part of a long text a phone sent in several, kept until the whole text is taken (or pruned):
    a restart between two parts must not lose the first."""

    __tablename__ = "sms_part"
    __table_args__ = (
        Index("ix_sms_part_key", "provider", "sender", "reference", "total", "seq", unique=True),
        Index("ix_sms_part_received_at", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=200)
    sender: str = Field(max_length=64)
    reference: int
    total: int
    seq: int
    data_coding: int
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: datetime = _when()


class EngineBeatTable(SQLModel, table=True):
    """One row per engine (a ``memoguard serve`` process) that has run on this database, rewritten by
    its heartbeat (from revision 0007). Read by the freshest beat (``ix_engine_beat_last``), so CLI
    commands and /readyz cost the same however many engines came and went."""

    __tablename__ = "engine_beat"

    instance: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    pid: int = Field(sa_column=Column(Integer, nullable=False))
    started_at: datetime = _when()
    last_beat: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    stopped_at: datetime | None = _when(nullable=True)


class ApiTokenTable(SQLModel, table=True):
    """Personal API tokens (revision 0010): only the SHA-256 of the token is kept, found by its unique
    index (services/access.py says why a plain hash suffices for a 256-bit random token)."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    person: str = Field(max_length=200, index=True)
    name: str = Field(max_length=200)
    digest: str = Field(max_length=64, unique=True)
    created_at: datetime = _when()
    expires_at: datetime | None = _when(nullable=True)
    revoked_at: datetime | None = _when(nullable=True)
    last_used_at: datetime | None = _when(nullable=True)


class AuditTable(SQLModel, table=True):
    """Who did what, how, from where and when (revision 0010): actions, token changes, failed
    authentications. Read by time (``memoguard audit --since``)."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    person: str | None = Field(default=None, max_length=200)
    action: str = Field(max_length=64)
    how: str = Field(max_length=200)
    address: str | None = Field(default=None, max_length=200)
    target: str | None = Field(default=None, max_length=200)
    detail: str = Field(sa_column=Column(Text, nullable=False))


class DeadmanTable(SQLModel, table=True):
    """One row per heartbeat (dead man's switch, services/deadman.py; revision 0011): when it was last
    pinged and the deadline of its next ping, which is its durable check: claimed ``FOR UPDATE SKIP
    LOCKED`` once due, like a timer. Not the engines' own liveness (``engine_beat``)."""

    __tablename__ = "deadman"

    name: str = Field(primary_key=True, max_length=200)
    state: str = Field(max_length=20)  # waiting (never pinged), up, missed
    since: datetime = _when()  # when it entered that state
    last_ping: datetime | None = _when(nullable=True)
    deadline: datetime | None = _when(nullable=True, index=True)  # None while missed: the next ping re-arms it
    incident_id: int | None = Field(default=None)  # the incident its last miss opened


class SelfTestTable(SQLModel, table=True):
    """The self-test's durable timer (services/selftest.py; revision 0013): one row, ``name`` ``self_test``,
    claimed ``FOR UPDATE SKIP LOCKED`` once due, so several instances send one test page."""

    __tablename__ = "selftest"

    name: str = Field(primary_key=True, max_length=40)
    state: str = Field(max_length=20)  # waiting (for the next run), sent (waiting for its acknowledgement)
    due_at: datetime = _when()
    incident_id: int | None = Field(default=None)
    last_outcome: str | None = Field(default=None, max_length=20)


class SilenceTable(SQLModel, table=True):
    """Maintenance windows made at run time (revision 0011); those of memoguard.yaml are not stored.
    Ingestion reads the ones not over yet through ``ix_silence_ends_at``."""

    __tablename__ = "silence"

    id: int | None = Field(default=None, primary_key=True)
    matcher: str = Field(sa_column=Column(Text, nullable=False))  # JSON: sources, severities, labels
    comment: str = Field(sa_column=Column(Text, nullable=False))
    starts_at: datetime = _when()
    ends_at: datetime = _when(index=True)
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = _when()
    removed_at: datetime | None = _when(nullable=True)
    removed_by: str | None = Field(default=None, max_length=200)


class SigninCodeTable(SQLModel, table=True):
    """One-time sign-in codes (revision 0012). Found by the digest of the browser's secret (a cookie);
    ``code`` is an HMAC of the code keyed by that secret, so the table alone gives no code away
    (services/signin.py). ``person`` is None when the name asked for is nobody's."""

    __tablename__ = "signin_code"
    __table_args__ = (Index("ix_signin_code_person_created", "person", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    person: str | None = Field(default=None, max_length=200)
    code: str = Field(max_length=64)
    created_at: datetime = _when()
    expires_at: datetime = _when()
    used_at: datetime | None = _when(nullable=True)
    attempts: int


class WebSessionTable(SQLModel, table=True):
    """Web sessions (revision 0012): the digest of the cookie, whose person, how it began, the CSRF token
    its forms and the console's requests must carry, and its idle and absolute limits."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    person: str = Field(max_length=200)
    how: str = Field(max_length=20)
    csrf: str = Field(max_length=64)
    address: str | None = Field(default=None, max_length=200)
    created_at: datetime = _when()
    last_seen_at: datetime = _when()
    expires_at: datetime = _when()
    ended_at: datetime | None = _when(nullable=True)


METADATA = SQLModel.metadata
