"""The inbox port: what providers receive back from the network and hand to memoguard.

An SMS provider's link (an SMPP bind, a Twilio webhook) reports delivery receipts for the messages it
sent and text messages people sent to memoguard's number. It hands each to an ``Inbox`` as soon as it
has it whole (a concatenated SMS is reassembled first) and acknowledges it to the network only once
the inbox call returned: an inbox call that raises (the database is down) must leave the message
unacknowledged, so the network delivers it again rather than it being lost.

The parts of a long text are kept by an ``SmsParts`` (the database) as they come, not in the link's
memory: a restart between two parts must still give the whole text once the last one comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# Final states of a delivery receipt, as SMPP 3.4 appendix B spells them (Twilio's are mapped to these).
DELIVERED = "DELIVRD"
FAILED_STATES = frozenset({"UNDELIV", "EXPIRED", "REJECTD", "DELETED"})


@dataclass(frozen=True)
class Receipt:
    """What the network says became of a message the provider sent.

    ``message_id`` is the id the provider returned when it sent it (one of them, for a message sent in
    several parts). ``state`` is DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, ACCEPTD, ENROUTE or
    UNKNOWN; ``error`` the network's error code, when it gave one; ``at`` when it happened, if known."""

    provider: str
    message_id: str
    state: str
    error: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Inbound:
    """A text message a phone sent to memoguard: ``sender`` as the network gave it (E.164 with or
    without the ``+``, or a national number), ``recipient`` the number or short code it was sent to."""

    provider: str
    sender: str
    recipient: str
    text: str


class Inbox(Protocol):
    def receipt(self, receipt: Receipt) -> None:
        """Record a delivery receipt. Raises only when it could not be recorded (then ask again later)."""
        ...

    def reply(self, message: Inbound) -> None:
        """Handle a text from a phone (an acknowledgement by SMS, STOP…). Raises only when it could not
        be recorded."""
        ...


@dataclass(frozen=True)
class SmsPart:
    """Part ``seq`` of ``total`` of a long text ``sender`` sent under ``reference`` (concatenated SMS),
    as raw payload octets: the text is decoded once whole (a character may straddle two parts)."""

    provider: str
    sender: str
    reference: int
    total: int
    seq: int
    payload: bytes
    data_coding: int


@dataclass(frozen=True)
class DroppedParts:
    """The parts of one long text pruned before its last part came."""

    provider: str
    sender: str
    reference: int
    total: int
    parts: int


class SmsParts(Protocol):
    def add(self, part: SmsPart, at: datetime) -> list[SmsPart]:
        """Keep ``part`` (committed when this returns; a part that comes twice replaces itself) and return
        every part of its text kept so far, in ``seq`` order."""
        ...

    def remove(self, part: SmsPart) -> None:
        """Forget every part of the text ``part`` belongs to (it was taken whole)."""
        ...

    def prune(self, before: datetime) -> list[DroppedParts]:
        """Forget the parts received at or before ``before``; returns what went, per text."""
        ...
