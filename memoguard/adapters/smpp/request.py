"""What crosses between a sender's thread and the link thread: a submit_sm waiting for its answer, a
deliver_sm_resp to send, and the two ways a submit can end without one.

A ``Request`` is queued by the sender, taken by the link thread when it writes the submit_sm, and finished
when its submit_sm_resp comes (or the link is lost). A sender that stops waiting abandons it under the
same lock, so an answer that comes too late is recognised and logged instead of handed to nobody.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class LinkDown(Exception):
    """The link cannot carry a PDU now; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoAnswer(Exception):
    """The SMSC did not answer in time; the message may or may not have been taken."""


@dataclass(frozen=True)
class Response:
    status: int
    message_id: str


_QUEUED, _SENT, _DONE, _ABANDONED = "queued", "sent", "done", "abandoned"


@dataclass(eq=False)
class Request:
    fields: Mapping[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: str = _QUEUED
    response: Response | None = None
    failure: str | None = None

    def take(self) -> bool:
        """Claim the request for sending; False when its caller has given up on it already."""
        with self.lock:
            if self.state != _QUEUED:
                return False
            self.state = _SENT
            return True

    def finish(self, response: Response | None = None, failure: str | None = None) -> bool:
        """Hand the outcome to the waiting sender; False when it had given up already."""
        with self.lock:
            if self.state == _ABANDONED:
                return False
            self.state = _DONE
            self.response, self.failure = response, failure
        self.done.set()
        return True

    def abandon(self) -> bool:
        """The sender stops waiting; False when the outcome came in the meantime (then it stands)."""
        with self.lock:
            if self.state == _DONE:
                return False
            # If it was on the wire, its submit_sm_resp is dropped when it comes.
            self.state = _ABANDONED
            return True


@dataclass(frozen=True)
class Answer:
    """A deliver_sm_resp to write, on the bind (``generation``) its deliver_sm came by."""

    generation: int
    sequence: int
    status: int
