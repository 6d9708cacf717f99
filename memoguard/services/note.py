"""What a source says about an incident that is no alarm: a line on the open incident's timeline, nothing more.

An Opsgenie-speaking tool's acknowledge (http/opsgenie.py) lands here. It is recorded so that whoever
reads the incident sees that the tool, or someone in the tool, acknowledged it; it is not an ack: it
changes no state, cancels no timer and stops no page, since in memoguard only a person takes an
incident, and a tool's ack (often an automatic rule) must not silence the people on call.

A PagerDuty-speaking tool's acknowledge is the exception (``acknowledge_from_source``): issue 17 asks that
"acknowledge from a source acknowledges as that source", because that is what the Events API promises
the tools that call it, and a tool sending it does so on purpose (a person acked in that tool).
"""

from __future__ import annotations

from memoguard.domain.event import Acked
from memoguard.services.clock import Clock
from memoguard.services.escalator import Escalator
from memoguard.services.record import AuditEntry
from memoguard.services.store import Store

SOURCE_ACKNOWLEDGED = "source_acknowledged"


def note_from_source(store: Store, clock: Clock, source: str, dedup_key: str, text: str) -> str | None:
    """Add ``text`` to the timeline of the open incident of ``(source, dedup_key)``; its id, or None when
    none is open (nothing is written then)."""
    with store.write() as unit:
        found = unit.open_incidents([(source, dedup_key)]).get((source, dedup_key))
        if found is None:
            return None
        unit.add_entry(found.incident.id, clock.now(), SOURCE_ACKNOWLEDGED, text, None)
        return found.incident.id


def acknowledge_from_source(
    store: Store, clock: Clock, escalator: Escalator, source: str, dedup_key: str, how: str, address: str | None
) -> str | None:
    """Acknowledge the open incident of ``(source, dedup_key)`` as the source itself: a PagerDuty-speaking
    tool's ``acknowledge`` (http/pagerduty.py), which in PagerDuty stops the notifications. The source acts
    with an admin's reach (it was never paged) and its name stands where a person's would, on the
    timeline, in the incident's ackers and in the audit trail (``how``: how it came in). Its id, or None
    when no incident of that key is open (nothing is written then, as PagerDuty drops such an event)."""
    with store.write() as unit:
        found = unit.open_incidents([(source, dedup_key)]).get((source, dedup_key))
        if found is None:
            return None
        now = clock.now()
        incident, _ = escalator.apply(unit, found.incident, Acked(source, admin=True, via=how), now)
        unit.add_audit(AuditEntry(now, source, "ack", how, address, incident.id, "acknowledged by the alarm source"))
        return incident.id
