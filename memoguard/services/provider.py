"""The provider port: one concrete way to deliver a channel (console, SMPP link, Twilio, SMTP…) or to
publish incident events (helpdesk tickets, outbound webhooks).

Providers only send. Rate limits, retries, failover and batching decisions live in the dispatcher, so
a provider reports a failure as ``DeliveryError`` saying whether trying again later could work (and,
when the remote side said so, after how long), and never retries or sleeps itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from memoguard.domain.person import Person


@dataclass(frozen=True)
class Message:
    """One notification on one channel, as handed to a provider.

    ``key`` is an idempotency key, stable across retries and restarts: a provider whose API accepts
    one (an ``Idempotency-Key`` header, a ticket's ``external_id``) passes it on, so a message sent
    again after a crash is recognised. ``person`` is None for incident events (tickets, webhooks),
    which carry ``event`` instead: the JSON document of what happened. ``reference`` is what this
    provider returned for the incident's previous event (a helpdesk's ticket id), None at first.
    """

    id: int
    key: str
    incident: str
    person: Person | None
    channel: str
    purpose: str  # page, status, ticket, webhook
    subject: str
    text: str
    created_at: datetime
    step: int | None = None  # 0-based escalation step of a page; None for the crisis cell and others
    event: Mapping[str, Any] | None = None
    reference: str | None = None
    incidents: tuple[str, ...] = ()  # a storm bundle: every incident it stands for (``incident`` is the first)


class DeliveryError(Exception):
    """``retryable``: trying again later may work (timeout, 5xx, link down). ``retry_after``: the remote
    side asked to wait this long (HTTP 429 Retry-After, SMPP throttling): the dispatcher holds every
    message for this provider until then, which is not counted as a failure of the message."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable or retry_after is not None
        self.retry_after = retry_after


class Provider(Protocol):
    name: str

    def send(self, message: Message) -> str | None:
        """Hand ``message`` over; return the provider's id for it (message id, ticket id) if it has one."""
        ...


# The outcome of one message in a batch: the provider's id for it, or why it failed.
Outcome = str | None | DeliveryError


@runtime_checkable
class BatchProvider(Protocol):
    """A provider with a batch endpoint that works as an asynchronous job (Zendesk ``create_many``):
    one call submits up to ``batch_size`` messages, later calls ask whether the job has finished.
    Each call counts once against the provider's rate limits. The dispatcher keeps the job id in the
    database, so a restart polls the same job instead of submitting the batch again."""

    name: str
    batch_size: int
    poll_every: timedelta

    def send(self, message: Message) -> str | None: ...

    def batchable(self, message: Message) -> bool:
        """Whether ``message`` can go in a batch (e.g. creating a ticket, not updating one)."""
        ...

    def submit(self, messages: Sequence[Message]) -> str:
        """Submit ``messages`` as one job; returns the job id. Raises DeliveryError for the whole batch."""
        ...

    def poll(self, job: str, messages: Sequence[Message]) -> list[Outcome] | None:
        """The job's outcome per message (same order as ``messages``), or None while it still runs.
        Raises DeliveryError when the job cannot be asked about right now (then it is asked again)."""
        ...
