"""What a source says about an incident that is no alarm: a line on the open incident's timeline, nothing more.

An Opsgenie-speaking tool's acknowledge (http/opsgenie.py) lands here. It is recorded so that whoever
reads the incident sees that the tool, or someone in the tool, acknowledged it; it is not an ack: it
changes no state, cancels no timer and stops no page, since in memoguard only a person takes an
incident, and a tool's ack (often an automatic rule) must not silence the people on call.
"""

from __future__ import annotations

from memoguard.services.clock import Clock
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
