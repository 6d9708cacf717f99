"""The dispatcher: drains the outbox through each channel's providers.

It owns everything that is not "send one message": claiming (with a lease, so a crashed dispatcher's
claims come back), retrying transient failures with backoff, failing over to the channel's next
provider and then to the person's next channel, and, when every channel failed for a page, telling the
state machine (DeliveryFailed) so the escalation moves on early. Delivery is at least once: a crash
between handing a message over and recording it sends it again with the same notification id.
Per-provider rate limits and storm bundling slot in here (``_deliver``), not in the providers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from memoguard.domain.effect import Purpose
from memoguard.domain.event import DeliveryFailed
from memoguard.domain.incident import IncidentState
from memoguard.domain.person import Person
from memoguard.services.clock import Clock
from memoguard.services.escalator import Escalator
from memoguard.services.provider import DeliveryError, Message, Provider
from memoguard.services.record import Notification
from memoguard.services.store import Store

log = logging.getLogger(__name__)

BATCH = 20
LEASE = timedelta(seconds=30)
MAX_RETRIES = 5


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts`` (1-based): 2 s, 4 s, 8 s… capped at 5 minutes."""
    return timedelta(seconds=min(2**attempts, 300))


class Dispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        people: Mapping[str, Person],
        channels: Mapping[str, tuple[str, ...]],
        providers: Mapping[str, Provider],
        escalator: Escalator,
    ) -> None:
        self._store = store
        self._clock = clock
        self._people = people
        self._channels = channels
        self._providers = providers
        self._escalator = escalator

    def drain(self, limit: int = BATCH) -> int:
        """Send up to ``limit`` ready notifications; returns how many were claimed."""
        now = self._clock.now()
        with self._store.write() as unit:
            batch = unit.claim_notifications(now, limit, now + LEASE)
        for notification in batch:
            self._deliver(notification)
        return len(batch)

    def drain_all(self) -> int:
        total = 0
        while True:
            sent = self.drain()
            total += sent
            if sent < BATCH:
                return total

    def _still_wanted(self, n: Notification) -> bool:
        """Just before sending: the claim is still ours (not cancelled by a resolve) and, for a page, the
        incident still waits for an acknowledgement. A page queued behind a retry or a slow batch must not
        wake someone after the incident was acknowledged or resolved."""
        now = self._clock.now()
        with self._store.write() as unit:
            if not unit.renew_claim(n.id, now + LEASE):
                return False
            if n.purpose != Purpose.PAGE.value:
                return True
            incident = unit.incident(n.incident)
            if incident is not None and incident.state == IncidentState.TRIGGERED:
                return True
            state = "gone" if incident is None else incident.state.value
            unit.notification_cancelled(n.id, f"incident {state} before it was sent")
            text = f"Page #{n.id} to {n.person} not sent: the incident was {state} in the meantime"
            unit.add_entry(n.incident, now, "notification_dropped", text, n.person)
            return False

    def _deliver(self, n: Notification) -> None:
        if not self._still_wanted(n):
            return
        person = self._people.get(n.person) or Person(n.person)
        message = Message(n.id, n.incident, person, n.channel, n.purpose, n.subject, n.text, n.created_at, n.step)
        errors: list[str] = []
        retryable = False
        for name in self._channels.get(n.channel, ()):
            provider = self._providers.get(name)
            if provider is None:
                errors.append(f"{name}: provider not configured")
                continue
            try:
                reference = provider.send(message)
            except DeliveryError as error:
                errors.append(f"{name}: {error.reason}")
                retryable = retryable or error.retryable
                continue
            except Exception as error:  # a provider bug must not stall the queue: retry it like a transient failure
                log.exception("provider %s raised on notification %d", name, n.id)
                errors.append(f"{name}: unexpected {type(error).__name__}: {error}")
                retryable = True
                continue
            self._sent(n, name, reference)
            return
        if not errors:
            errors.append(f"channel {n.channel!r} has no provider")
        self._failed(n, "; ".join(errors), retryable)

    def _sent(self, n: Notification, provider: str, reference: str | None) -> None:
        now = self._clock.now()
        ref = f" (ref {reference})" if reference else ""
        with self._store.write() as unit:
            unit.notification_sent(n.id, now, provider)
            text = f"{n.purpose.capitalize()} #{n.id} sent to {n.person} by {n.channel} via {provider}{ref}"
            unit.add_entry(n.incident, now, "notified", text, n.person)

    def _failed(self, n: Notification, reason: str, retryable: bool) -> None:
        now = self._clock.now()
        with self._store.write() as unit:
            if retryable and n.attempts < MAX_RETRIES:
                wait = backoff(n.attempts)
                unit.notification_retry(n.id, n.channel_index, now + wait, reason)
                text = f"{n.channel} to {n.person} failed ({reason}); retrying in {int(wait.total_seconds())}s"
                unit.add_entry(n.incident, now, "delivery_retry", text, n.person)
                return
            if n.channel_index + 1 < len(n.channels):
                following = n.channels[n.channel_index + 1]
                unit.notification_retry(n.id, n.channel_index + 1, now, reason)
                text = f"{n.channel} to {n.person} failed ({reason}); trying {following}"
                unit.add_entry(n.incident, now, "delivery_failover", text, n.person)
                return
            incident = unit.incident(n.incident)  # lock order: the incident first, as every decision does
            unit.notification_failed(n.id, reason)
            unit.add_entry(n.incident, now, "delivery_error", f"Could not reach {n.person}: {reason}", n.person)
            if incident is not None and n.purpose == "page":
                self._escalator.apply(unit, incident, DeliveryFailed(n.person, reason), now)
        log.warning("notification %d to %s: %s", n.id, n.person, reason)
