"""Incidents, timelines and notifications as plain JSON-ready dicts: one shape for the API and the CLI."""

from __future__ import annotations

from typing import Any

from memoguard.services.record import DueTimer, IncidentRow, Notification, TimelineEntry


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


def notification(item: Notification) -> dict[str, Any]:
    return {
        "id": item.id,
        "person": item.person,
        "channel": item.channel,
        "channels": list(item.channels),
        "purpose": item.purpose,
        "reason": item.reason,
        "step": None if item.step is None else item.step + 1,
        "status": item.status.value,
        "attempts": item.attempts,
        "created_at": item.created_at.isoformat(),
        "sent_at": None if item.sent_at is None else item.sent_at.isoformat(),
        "provider": item.provider,
        "error": item.error,
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
