"""Running ``decide`` against the store: one decision and all its effects in the caller's transaction.

Overrides stored in the database (``memoguard override add``) are laid over the incident's roster copies
at every decision, so they act at once, also on incidents already open; YAML edits do not (the copy
taken when the incident opened stands). Each Notify becomes one outbox row per person, its text
rendered now in the person's language, its channels ordered by the person's preference. Each Publish
becomes one outbox row per outbound provider of the policy, carrying the event as a JSON document
(``event_document``), so a helpdesk or webhook sees the incident as it was at that moment.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from memoguard.domain.duration import format_duration
from memoguard.domain.effect import (
    CancelNotifications,
    CancelTimers,
    Effect,
    Notify,
    Publish,
    Purpose,
    Record,
    ScheduleTimer,
)
from memoguard.domain.escalation import decide
from memoguard.domain.event import Event
from memoguard.domain.incident import Incident
from memoguard.domain.person import Person
from memoguard.domain.reply import CODE_REUSE
from memoguard.services.logfields import ids
from memoguard.services.override import apply_overrides
from memoguard.services.record import NotificationDraft
from memoguard.services.renderer import Renderer
from memoguard.services.store import Unit

log = logging.getLogger(__name__)


def channel_order(person: Person | None, channels: tuple[str, ...]) -> tuple[str, ...]:
    """The step's channels, those the person prefers first (in their order), then the others."""
    preferred = person.channels if person is not None else ()
    first = tuple(c for c in preferred if c in channels)
    return first + tuple(c for c in channels if c not in first)


class Escalator:
    def __init__(
        self,
        people: Mapping[str, Person],
        renderer: Renderer,
        outbound: Mapping[str, str] | None = None,
        public_url: str | None = None,
    ) -> None:
        """``outbound`` maps each outbound provider to the purpose of its rows (``ticket``, ``webhook``);
        ``public_url`` is where people reach this service (incident links in events)."""
        self._people = people
        self._renderer = renderer
        self._outbound = outbound or {}
        self._public_url = public_url.rstrip("/") if public_url else None

    def apply(
        self, unit: Unit, incident: Incident, event: Event, now: datetime, *, each_channel: bool = False
    ) -> tuple[Incident, list[Effect]]:
        """Decide ``event`` and carry out its effects in ``unit``. ``each_channel`` (the self-test page:
        services/selftest.py): a page goes out on every one of its channels at once, one row each,
        instead of trying them in turn."""
        live = with_stored_overrides(unit, incident, now)
        decided, effects = decide(live, event, now)
        decided = replace(decided, rosters=incident.rosters)
        for effect in effects:
            if each_channel and isinstance(effect, Notify) and effect.purpose == Purpose.PAGE:
                draft = self._draft(unit, decided, effect, now)
                person = self._people.get(effect.person)
                own = person.channels if person is not None else ()  # the person's own channels, when they list them
                for channel in (c for c in draft.channels if not own or c in own):
                    unit.add_notification(replace(draft, channels=(channel,)))
                continue
            self._effect(unit, decided, effect, now)
        if decided != incident:
            unit.save_incident(decided, now)
        return decided, effects

    def _effect(self, unit: Unit, incident: Incident, effect: Effect, now: datetime) -> None:
        match effect:
            case Record(kind, text, person):
                unit.add_entry(incident.id, now, kind, text, person)
                # One line per decision's timeline entry: the incident's story, filterable by its id.
                log.info("incident %s: %s", incident.id, text, extra=ids(incident.id, person=person, entry=kind))
            case ScheduleTimer(kind, due_at, version):
                unit.add_timer(incident.id, kind, due_at, version)
            case CancelTimers():
                unit.cancel_timers(incident.id)
            case CancelNotifications():
                unit.cancel_notifications(incident.id)
            case Notify() if effect.purpose == Purpose.STATUS and effect.person not in self._people:
                # An acker that is not a person: an alarm source acknowledging through PagerDuty's Events
                # API (services/note.py). It has no channel to be told on; a notice would only fail.
                pass
            case Notify():
                unit.add_notification(self._draft(unit, incident, effect, now))
            case Publish():
                self._publish(unit, incident, effect, now)

    def _publish(self, unit: Unit, incident: Incident, publish: Publish, now: datetime) -> None:
        row = unit.incident_row(incident.id)
        source = row.source if row is not None else None
        url = f"{self._public_url}/incidents/{incident.id}" if self._public_url else None
        document = json.dumps(event_document(incident, publish, now, source, url), sort_keys=True)
        for provider in incident.policy.outbound:
            unit.add_notification(
                NotificationDraft(
                    incident=incident.id,
                    person="",
                    channels=(provider,),
                    purpose=self._outbound.get(provider, "webhook"),
                    step=None if incident.crisis or incident.step < 0 else incident.step,
                    cycle=incident.cycle,
                    reason=publish.event,
                    subject=f"[memoguard #{incident.id}] {incident.summary}"[:200],
                    text=publish.text,
                    created_at=now,
                    payload=document,
                )
            )

    def _draft(self, unit: Unit, incident: Incident, notify: Notify, now: datetime) -> NotificationDraft:
        person = self._people.get(notify.person)
        language = person.language if person is not None else "en"
        context = message_context(incident, notify, notify.person)
        if notify.purpose == Purpose.PAGE and person is not None and person.phone:
            # The code this number answers with ("3a"), shown on every channel: an e-mail read on a phone
            # can be answered by SMS too.
            context["code"] = unit.reply_code(person.phone, person.name, incident.id, now, now + CODE_REUSE)
        template = "page" if notify.purpose == Purpose.PAGE else "status"
        text = self._renderer.render(template, language, context).strip()
        return NotificationDraft(
            incident=incident.id,
            person=notify.person,
            channels=channel_order(person, notify.channels),
            purpose=notify.purpose.value,
            step=notify.step,
            cycle=incident.cycle,
            reason=notify.reason,
            subject=person_subject(incident),
            text=text,
            created_at=now,
            stage_version=notify.stage.version if notify.stage is not None else None,
        )


def person_subject(incident: Incident) -> str:
    """The subject of every page and status message of ``incident``: the same for all of them, so a mail
    client that threads by subject (Gmail) keeps the incident in one conversation, and with the severity,
    so an inbox filter or a glance can sort pages."""
    severity = f" {incident.severity}" if incident.severity else ""
    return f"[memoguard #{incident.id}{severity}] {incident.summary}"[:200]


def message_context(incident: Incident, notify: Notify, person: str) -> dict[str, Any]:
    policy = incident.policy
    step = policy.steps[notify.step] if notify.step is not None else None
    cell = policy.crisis_cell
    return {
        "id": incident.id,
        "summary": incident.summary,
        "severity": incident.severity,
        "person": person,
        "reason": notify.reason,
        "step": None if notify.step is None else notify.step + 1,
        "steps": len(policy.steps),
        "ack_within": None if step is None else format_duration(step.ack_within),
        "double": policy.ack.mode == "double",
        "confirm_within": None if policy.ack.confirm_within is None else format_duration(policy.ack.confirm_within),
        "reack_after": None if policy.ack.reack_after is None else format_duration(policy.ack.reack_after),
        "quorum": incident.quorum,
        "bridge": cell.bridge if cell is not None else None,
        "acked_by": list(incident.acked_by),
        "confirmed_by": list(incident.confirmed_by),
        "code": None,
    }


def event_document(
    incident: Incident, publish: Publish, now: datetime, source: str | None, url: str | None
) -> dict[str, Any]:
    """What helpdesks and webhooks receive (version 1 of the shape; new keys may be added)."""
    return {
        "version": 1,
        "event": publish.event,
        "at": now.isoformat(),
        "by": publish.person,
        "text": publish.text,
        "incident": {
            "id": incident.id,
            "title": incident.summary,
            "severity": incident.severity,
            "state": incident.state.value,
            "policy": incident.policy.name,
            "source": source,
            "opened_at": incident.opened_at.isoformat(),
            "step": None if incident.crisis or incident.step < 0 else incident.step + 1,
            "crisis": incident.crisis,
            "acked_by": list(incident.acked_by),
            "confirmed_by": list(incident.confirmed_by),
            "url": url,
        },
    }


def with_stored_overrides(unit: Unit, incident: Incident, now: datetime) -> Incident:
    """The incident with the database overrides in force now laid over its roster copies. A decision
    asks its rosters about ``now`` only (``domain.paging``), so the others cannot change it, and reading
    them all made every decision cost as much as the overrides stored over the years."""
    stored = unit.overrides_in_force([roster.name for roster in incident.rosters], now)
    if not stored:
        return incident
    merged = apply_overrides({r.name: r for r in incident.rosters}, stored)
    return replace(incident, rosters=tuple(merged[r.name] for r in incident.rosters))
