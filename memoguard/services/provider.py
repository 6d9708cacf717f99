"""The provider port: one concrete way to deliver a channel (console, SMPP link, Twilio, SMTP…).

Providers only send. Retries, failover and rate limits live in the dispatcher, so a provider reports a
failure as ``DeliveryError`` saying whether trying again later could work, and never retries itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from memoguard.domain.person import Person


@dataclass(frozen=True)
class Message:
    """One notification on one channel, as handed to a provider. ``id`` is stable across retries, so a
    provider or a receiver can recognise a message sent twice after a crash."""

    id: int
    incident: str
    person: Person
    channel: str
    purpose: str
    subject: str
    text: str
    created_at: datetime
    step: int | None = None  # 0-based escalation step of a page; None for the crisis cell and status messages


class DeliveryError(Exception):
    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Provider(Protocol):
    name: str

    def send(self, message: Message) -> str | None:
        """Hand ``message`` over; return the provider's message id when it has one."""
        ...
