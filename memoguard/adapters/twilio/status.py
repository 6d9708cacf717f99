"""Twilio's message statuses mapped onto the inbox's receipt states (services/inbox.py), as a table.

The inbox speaks SMPP's states, so a Twilio status callback updates a notification and its timeline
exactly as an SMSC's receipt does: ``delivered`` is DELIVRD; ``undelivered`` (the carrier could not
deliver it) is UNDELIV and ``failed`` (Twilio could not send it) is REJECTD, both final failures that fail
the page over; the rest say the message is on its way. A status missing from the table is UNKNOWN: on
the timeline, and nothing else.
"""

from __future__ import annotations

STATES = {
    "accepted": "ACCEPTD",
    "scheduled": "ACCEPTD",
    "queued": "ENROUTE",
    "sending": "ENROUTE",
    "sent": "ENROUTE",
    "delivered": "DELIVRD",
    "read": "DELIVRD",
    "undelivered": "UNDELIV",
    "failed": "REJECTD",
    "canceled": "DELETED",
}


def state(status: str) -> str:
    return STATES.get(status.strip().lower(), "UNKNOWN")
