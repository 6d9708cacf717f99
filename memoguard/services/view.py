"""Incidents, timelines and notifications as plain JSON-ready dicts: one shape for the API and the CLI."""

from __future__ import annotations

from typing import Any

from memoguard.services.inbox import DELIVERED, FAILED_STATES
from memoguard.services.record import DueTimer, IncidentRow, Notification, NotificationStatus, TimelineEntry


def incident_summary(row: IncidentRow) -> dict[str, Any]:
    incident = row.incident
    return {
        "id": incident.id,
        "state": incident.state.value,
        "summary": incident.summary,
        "severity": incident.severity,
        "policy": incident.policy.name,
        "source": row.source,
        "dedup_key": row.dedup_key,
        "opened_at": incident.opened_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "resolved_at": None if row.resolved_at is None else row.resolved_at.isoformat(),
        "step": None if incident.step < 0 else incident.step + 1,
        "steps": len(incident.policy.steps),
        "cycle": incident.cycle + 1,
        "crisis": incident.crisis,
        "paged": sorted(incident.paged),
        "acknowledged_by": list(incident.acked_by),
        "confirmed_by": list(incident.confirmed_by),
        "alarms": row.alarms,
    }


def entry(item: TimelineEntry) -> dict[str, Any]:
    return {"at": item.at.isoformat(), "kind": item.kind, "text": item.text, "person": item.person}


# Where a notification's last error still says something: it waits for a retry (or is held, and the
# error says why), is being sent again, failed for good, or was cancelled (the error says why). Once it
# went out, an earlier failure is history: it is on the timeline, not on the notification.
_ERROR_APPLIES = (
    NotificationStatus.PENDING,
    NotificationStatus.SENDING,
    NotificationStatus.FAILED,
    NotificationStatus.CANCELLED,
)


def notification(item: Notification) -> dict[str, Any]:
    """``attempts``: the calls made to providers for it, counted from 1 for the first and kept across a
    failover (``provider``/``provider_index``: which of its channel's providers took it, or is tried);
    ``receipt``: the network's word on the send that went out (only while it is sent)."""
    receipt = None
    if item.status == NotificationStatus.SENT and item.receipt is not None:
        delivered = True if item.receipt == DELIVERED else False if item.receipt in FAILED_STATES else None
        receipt = {
            "state": item.receipt,
            "delivered": delivered,  # None: in progress (ENROUTE, ACCEPTD…)
            "at": None if item.receipt_at is None else item.receipt_at.isoformat(),
        }
    return {
        "id": item.id,
        "person": item.person,
        "channel": item.channel,
        "channels": list(item.channels),
        "purpose": item.purpose,
        "reason": item.reason,
        "step": None if item.step is None else item.step + 1,
        "status": item.status.value,
        "attempts": item.tries,
        "created_at": item.created_at.isoformat(),
        "sent_at": None if item.sent_at is None else item.sent_at.isoformat(),
        "provider": item.provider,
        "provider_index": item.provider_index,
        "error": item.error if item.status in _ERROR_APPLIES else None,
        "receipt": receipt,
        "text": item.text,
    }


def timer(item: DueTimer) -> dict[str, Any]:
    return {"kind": item.kind.value, "due_at": item.due_at.isoformat(), "version": item.version}


def incident_detail(
    row: IncidentRow, timeline: list[TimelineEntry], notifications: list[Notification], timers: list[DueTimer]
) -> dict[str, Any]:
    return {
        **incident_summary(row),
        "timeline": [entry(e) for e in timeline],
        "notifications": [notification(n) for n in notifications],
        "timers": [timer(t) for t in timers],
    }
