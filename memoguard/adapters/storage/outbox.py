"""The outbox, provider and bundle half of ``SqlUnit``: notifications, rate-limit log, provider health.

Planning a dispatch round happens under one lock (``lock_dispatch``), so the rate-limit log read and
the reservations written in that transaction are the same for every instance. Updates that change a
notification's status re-check the status they expect, so a resolve that cancelled a row in between
always wins over a dispatcher's stale view. Claiming rows, renewing a claim just before a send and
taking over a dead instance's claims are in ``claim.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, exists, func, insert, or_, select, text, union_all, update

from memoguard.adapters.storage.claim import SqlClaims
from memoguard.adapters.storage.table import (
    BundleTable,
    NotificationTable,
    ProviderSendTable,
    ProviderStateTable,
)
from memoguard.domain.reply import BUNDLE_CODES
from memoguard.services.record import (
    DIRECT,
    OUTBOUND,
    REPLY,
    Bundle,
    HeldCount,
    Notification,
    NotificationDraft,
    NotificationStatus,
    ProviderState,
    QueueCount,
)

notification_t = NotificationTable.__table__  # type: ignore[attr-defined]
state_t = ProviderStateTable.__table__  # type: ignore[attr-defined]
send_t = ProviderSendTable.__table__  # type: ignore[attr-defined]
bundle_t = BundleTable.__table__  # type: ignore[attr-defined]

PRIORITY = {"page": 0, "signin": 0, "status": 1, REPLY: 1, "ticket": 2, "webhook": 2}
DISPATCH_LOCK = 0x6D656D6F  # "memo": the PostgreSQL advisory lock key of dispatch planning

_PENDING = NotificationStatus.PENDING.value
_ADD_NOTIFICATION = insert(notification_t).returning(notification_t.c.id)  # built once: see incident.py
_SENDING = NotificationStatus.SENDING.value
_SUBMITTED = NotificationStatus.SUBMITTED.value
_UNSENT = (_PENDING, _SENDING, _SUBMITTED)


class SqlOutbox(SqlClaims):
    # --- notifications

    def add_notification(self, draft: NotificationDraft) -> int:
        values = {
            "incident_id": int(draft.incident) if draft.incident else None,  # a sign-in code: no incident
            "person": draft.person,
            "channels": json.dumps(list(draft.channels)),
            "channel_index": 0,
            "provider_index": 0,
            "purpose": draft.purpose,
            "priority": PRIORITY.get(draft.purpose, 9),
            "step": draft.step,
            "cycle": draft.cycle,
            "reason": draft.reason,
            "subject": draft.subject,
            "text": draft.text,
            "payload": draft.payload,
            "stage_version": draft.stage_version,
            "status": _PENDING,
            "attempts": 0,
            "created_at": draft.created_at,
            "not_before": draft.created_at,
        }
        row = self._c.execute(_ADD_NOTIFICATION, values)
        self.woke = True
        return int(row.scalar_one())

    def cancel_notifications(self, incident: str) -> int:
        n = notification_t.c
        result = self._c.execute(
            update(notification_t)
            .where(
                n.incident_id == int(incident),
                n.purpose.not_in(DIRECT),  # events and answers to SMS replies still go out
                # A row being sent right now is cancelled too: the send in flight still records itself as
                # sent, but a lapsed lease no longer hands it to another dispatcher after the resolve.
                n.status.in_([_PENDING, _SENDING]),
            )
            .values(status=NotificationStatus.CANCELLED.value, claimed_until=None)
        )
        return int(result.rowcount)

    def lock_dispatch(self) -> None:
        if self._postgres:
            self._c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DISPATCH_LOCK})

    def ready_notifications(self, now: datetime, limit: int) -> list[Notification]:
        n = notification_t.c
        query = (
            select(notification_t)
            .where(
                or_(
                    and_(n.status == _PENDING, n.not_before <= now),
                    and_(n.status == _SENDING, self._takeable(now)),
                    and_(n.status == _SUBMITTED, n.not_before <= now),
                ),
                _in_turn(),
            )
            .order_by(n.priority, n.not_before, n.id)
            .limit(limit)
        )
        return [_notification(r) for r in self._c.execute(query)]

    def defer_notifications(self, ids: Sequence[int], until: datetime, note: str | None = None) -> None:
        if not ids:
            return
        n = notification_t.c
        chosen = n.id.in_(list(ids))
        noted: dict[str, Any] = {} if note is None else {"error": note}
        # A lapsed claim deferred goes back to pending: a stale lease would otherwise make it ready at once.
        self._c.execute(
            update(notification_t)
            .where(chosen, n.status.in_([_PENDING, _SENDING]))
            .values(status=_PENDING, claimed_until=None, not_before=until, **noted)
        )
        self._c.execute(update(notification_t).where(chosen, n.status == _SUBMITTED).values(not_before=until))

    def notification_sent(
        self, notification: int, at: datetime, provider: str, reference: str | None = None, bundle: int | None = None
    ) -> None:
        self._c.execute(
            update(notification_t)
            .where(notification_t.c.id == notification)
            .values(
                status=NotificationStatus.SENT.value,
                sent_at=at,
                provider=provider,
                reference=reference,
                bundle_id=bundle,
                claimed_until=None,
                job=None,
                receipt=None,  # receipts are about this send: an earlier one's no longer says anything
                receipt_at=None,
            )
        )

    def notification_tried(self, notification: int) -> None:
        n = notification_t.c
        self._c.execute(update(notification_t).where(n.id == notification).values(tries=n.tries + 1))

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
        n = notification_t.c
        self._c.execute(
            update(notification_t)
            .where(n.id == notification, n.status.in_([_SENDING, _SUBMITTED]))
            .values(
                status=_PENDING,
                attempts=attempts,
                channel_index=channel_index,
                provider_index=provider_index,
                not_before=not_before,
                tried_since=tried_since,
                claimed_until=None,
                job=None,
                error=error,
            )
        )
        self.woke = True

    def notification_submitted(self, ids: Sequence[int], job: str, poll_at: datetime, provider: str) -> None:
        n = notification_t.c
        self._c.execute(
            update(notification_t)
            .where(n.id.in_(list(ids)), n.status.in_([_SENDING, _SUBMITTED]))
            .values(status=_SUBMITTED, job=job, not_before=poll_at, claimed_until=None, provider=provider)
        )
        self.woke = True

    def notification_failed(self, notification: int, error: str) -> None:
        n = notification_t.c
        self._c.execute(
            update(notification_t)
            .where(n.id == notification, n.status.in_([_SENDING, _SUBMITTED]))
            .values(status=NotificationStatus.FAILED.value, claimed_until=None, job=None, error=error)
        )

    def notification_cancelled(self, notification: int, reason: str) -> None:
        self._c.execute(
            update(notification_t)
            .where(notification_t.c.id == notification)
            .values(status=NotificationStatus.CANCELLED.value, claimed_until=None, error=reason)
        )

    def notifications(self, incident: str) -> list[Notification]:
        query = (
            select(notification_t).where(notification_t.c.incident_id == int(incident)).order_by(notification_t.c.id)
        )
        return [_notification(r) for r in self._c.execute(query)]

    def notification(self, notification: int) -> Notification | None:
        row = self._c.execute(select(notification_t).where(notification_t.c.id == notification)).first()
        return None if row is None else _notification(row)

    def next_notification_due(self) -> datetime | None:
        n = notification_t.c
        # An event waiting for its incident's earlier event is not due: that one's time is what counts.
        query = select(func.min(n.not_before)).where(n.status.in_([_PENDING, _SUBMITTED]), _in_turn())
        value: datetime | None = self._c.execute(query).scalar_one_or_none()
        return value

    def job_notifications(self, provider: str, job: str) -> list[Notification]:
        n = notification_t.c
        query = select(notification_t).where(n.provider == provider, n.job == job).order_by(n.id)
        return [_notification(r) for r in self._c.execute(query)]

    def outbound_reference(self, incident: str, provider: str) -> str | None:
        n = notification_t.c
        query = (
            select(n.reference)
            .where(
                n.incident_id == int(incident),
                n.channels == json.dumps([provider]),
                n.purpose.in_(OUTBOUND),
                n.reference.is_not(None),
            )
            .order_by(n.id.desc())
            .limit(1)
        )
        value: str | None = self._c.execute(query).scalar_one_or_none()
        return value

    def queue_counts(self) -> list[QueueCount]:
        n = notification_t.c
        query = select(n.channels, n.channel_index, n.provider_index, n.purpose, n.status, func.count()).group_by(
            n.channels, n.channel_index, n.provider_index, n.purpose, n.status
        )
        counts: dict[tuple[str, int, str, str], int] = {}
        for channels, channel_index, provider_index, purpose, status, count in self._c.execute(query):
            names = json.loads(channels)
            key = (names[min(channel_index, len(names) - 1)], provider_index, purpose, status)
            counts[key] = counts.get(key, 0) + int(count)
        return [
            QueueCount(channel, index, purpose, NotificationStatus(status), count)
            for (channel, index, purpose, status), count in sorted(counts.items())
        ]

    def held_counts(self, now: datetime) -> list[HeldCount]:
        n = notification_t.c
        query = (
            select(
                n.channels,
                n.channel_index,
                n.provider_index,
                n.purpose,
                n.error,
                func.max(n.attempts),
                func.count(),
                func.min(n.not_before),
                func.max(n.not_before),
            )
            .where(n.status == _PENDING, n.not_before > now)
            .group_by(n.channels, n.channel_index, n.provider_index, n.purpose, n.error)
        )
        held = []
        for channels, channel_index, provider_index, purpose, error, attempts, count, first, last in self._c.execute(
            query
        ):
            names = json.loads(channels)
            channel = names[min(channel_index, len(names) - 1)]
            held.append(HeldCount(channel, provider_index, purpose, error, int(attempts) > 0, int(count), first, last))
        return sorted(held, key=lambda h: (h.channel, h.provider_index, h.first))

    # --- providers

    def provider_state(self, name: str) -> ProviderState:
        row = self._c.execute(select(state_t).where(state_t.c.name == name)).first()
        return ProviderState(name) if row is None else _state(row)

    def provider_states(self) -> list[ProviderState]:
        return [_state(r) for r in self._c.execute(select(state_t).order_by(state_t.c.name))]

    def stamp_send(self, reservation: int, at: datetime) -> None:
        self._c.execute(update(send_t).where(send_t.c.id == reservation).values(at=at))

    def finish_send(self, reservation: int, at: datetime) -> None:
        self._c.execute(update(send_t).where(send_t.c.id == reservation).values(at=at, done=True))

    def release_send(self, reservation: int) -> None:
        self._c.execute(delete(send_t).where(send_t.c.id == reservation))

    def prune_sends(self, name: str, before: datetime, stale: datetime) -> None:
        s = send_t.c
        self._c.execute(
            delete(send_t).where(
                s.provider == name, or_(and_(s.done.is_(True), s.at < before), and_(s.done.is_(False), s.at < stale))
            )
        )

    def _upsert_state(self, name: str, **values: Any) -> None:
        if self._c.execute(update(state_t).where(state_t.c.name == name).values(**values)).rowcount == 0:
            self._c.execute(insert(state_t).values(name=name, **values))

    def provider_blocked(self, name: str, until: datetime) -> None:
        current = self.provider_state(name).blocked_until
        if current is None or current < until:
            self._upsert_state(name, blocked_until=until)

    def provider_failed(self, name: str, at: datetime, error: str) -> None:
        since = self.provider_state(name).failing_since or at
        self._upsert_state(name, failing_since=since, last_error=error, last_failure_at=at)

    def provider_succeeded(self, name: str, at: datetime) -> None:
        # Only a recovery is written: a healthy provider's every send must not contend on its row.
        s = state_t.c
        self._c.execute(
            update(state_t)
            .where(s.name == name, s.failing_since.is_not(None))
            .values(failing_since=None, last_success_at=at)
        )

    # --- storm bundles

    def recent_pages(self, person: str, channel: str, since: datetime, now: datetime) -> list[datetime]:
        n = notification_t.c
        # Two searches of ix_notification_person_sent (person, status, sent_at), not one OR: the rows
        # visited are the person's pages of the window and those in flight, not every page they ever had.
        columns = (n.channels, n.channel_index, n.status, n.sent_at, n.bundle_id)
        mine = and_(n.person == person, n.purpose == "page")
        query = union_all(
            select(*columns).where(mine, n.status == NotificationStatus.SENT.value, n.sent_at >= since),
            select(*columns).where(mine, n.status == _SENDING, n.claimed_until >= now),
        )
        times: list[datetime] = []
        bundles: set[int] = set()
        for r in self._c.execute(query):
            if json.loads(r.channels)[r.channel_index] != channel:  # JSON text: compared here, the rows are few
                continue
            if r.bundle_id is not None:
                if r.bundle_id in bundles:  # a bundle that went out counts once
                    continue
                bundles.add(r.bundle_id)
            times.append(r.sent_at if r.status == NotificationStatus.SENT.value else now)
        return times

    def add_bundle(self, person: str, channel: str, at: datetime, reuse_after: datetime) -> Bundle:
        b = bundle_t.c
        # A code is taken once its bundle went out; a bundle whose send failed gave nobody its code.
        recent = select(b.code).where(b.person == person, b.created_at >= reuse_after, _delivered(b.id))
        taken = {int(r.code) for r in self._c.execute(recent)}
        code = next((c for c in BUNDLE_CODES if c not in taken), None)
        if code is None:  # 900 bundles for one person within the reuse window: take the oldest code
            oldest = self._c.execute(
                select(b.code).where(b.person == person).order_by(b.created_at).limit(1)
            ).scalar_one()
            code = int(oldest)
        row = self._c.execute(
            insert(bundle_t).values(person=person, channel=channel, code=code, created_at=at).returning(b.id)
        )
        return Bundle(int(row.scalar_one()), person, channel, code, at)

    def bundle(self, person: str, code: int) -> Bundle | None:
        b = bundle_t.c
        row = self._c.execute(
            select(bundle_t)
            .where(b.person == person, b.code == code, _delivered(b.id))
            .order_by(b.created_at.desc(), b.id.desc())
            .limit(1)
        ).first()
        return None if row is None else Bundle(row.id, row.person, row.channel, row.code, row.created_at)

    def bundle_notifications(self, bundle: int) -> list[Notification]:
        query = select(notification_t).where(notification_t.c.bundle_id == bundle).order_by(notification_t.c.id)
        return [_notification(r) for r in self._c.execute(query)]

    def bundle_incidents(self, bundle: int) -> list[str]:
        n = notification_t.c
        query = select(n.incident_id).where(n.bundle_id == bundle).distinct().order_by(n.incident_id)
        return [str(r.incident_id) for r in self._c.execute(query)]


def _in_turn() -> Any:
    """Not an incident event queued behind an earlier one of the same incident for the same provider
    (a ticket is created before it is updated; webhook events arrive in order)."""
    n = notification_t.c
    e = notification_t.alias("earlier").c
    earlier_unsent = exists().where(
        e.incident_id == n.incident_id, e.channels == n.channels, e.id < n.id, e.status.in_(_UNSENT)
    )
    return or_(n.purpose.not_in(OUTBOUND), n.status == _SUBMITTED, ~earlier_unsent)


def _delivered(bundle: Any) -> Any:
    """The bundle went out: some page was recorded as sent in it."""
    return select(notification_t.c.id).where(notification_t.c.bundle_id == bundle).exists()


def _state(r: Row[Any]) -> ProviderState:
    return ProviderState(r.name, r.blocked_until, r.failing_since, r.last_error, r.last_success_at, r.last_failure_at)


def _notification(r: Row[Any]) -> Notification:
    return Notification(
        id=r.id,
        incident="" if r.incident_id is None else str(r.incident_id),
        person=r.person,
        channels=tuple(json.loads(r.channels)),
        channel_index=r.channel_index,
        purpose=r.purpose,
        step=r.step,
        cycle=r.cycle,
        reason=r.reason,
        subject=r.subject,
        text=r.text,
        created_at=r.created_at,
        status=NotificationStatus(r.status),
        attempts=r.attempts,
        sent_at=r.sent_at,
        provider=r.provider,
        error=r.error,
        provider_index=r.provider_index,
        tried_since=r.tried_since,
        payload=r.payload,
        job=r.job,
        reference=r.reference,
        bundle_id=r.bundle_id,
        not_before=r.not_before,
        receipt=r.receipt,
        receipt_at=r.receipt_at,
        stage_version=r.stage_version,
        tries=r.tries,
    )
