"""Recording what became of a call: sent, retried, throttled, failed over, or failed for good.

Every outcome of a send is written here, each in its own transaction as the call ends, with its entry
on the incident's timeline: sent (with the provider's reference, kept for delivery receipts); a
transient failure retried with jittered backoff, capped so the next provider gets its turn when the
channel's deadline is up; a throttle (the provider said "slow down": every instance holds it until
then); a permanent failure, or one past the deadline, failing over to the channel's next provider, then
to the person's next channel; and when no channel is left, a page becomes a ``DeliveryFailed`` event so
the escalation moves on early. Retries and failover live in this one place, never in an adapter.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from memoguard.domain.effect import Purpose
from memoguard.domain.event import DeliveryFailed
from memoguard.domain.stage import is_current
from memoguard.services.clock import Clock
from memoguard.services.delivery import Delivery, backoff
from memoguard.services.dispatch.pacing import LEASE, Call, instant
from memoguard.services.escalator import Escalator
from memoguard.services.logfields import ids
from memoguard.services.metrics import NO_METRICS, Metrics
from memoguard.services.provider import DeliveryError, Outcome
from memoguard.services.record import REPLY, Notification
from memoguard.services.store import Store, Unit

log = logging.getLogger(__name__)


class Recorder:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        delivery: Delivery,
        escalator: Escalator,
        rng: random.Random,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._delivery = delivery
        self._escalator = escalator
        self._rng = rng
        self.throttled: dict[str, datetime] = {}  # providers that said "slow down" during this round

    def outcome(
        self,
        call: Call,
        n: Notification,
        outcome: Outcome,
        bundle: tuple[int, int, int] | None = None,
        wait: timedelta | None = None,
        storm: str | None = None,
    ) -> None:
        """Record what the provider answered for ``n``. ``bundle``: (id, code, size) of the bundle it went
        in; ``storm``: why that bundle went although the person's storm window was full."""
        now = self._clock.now()
        if isinstance(outcome, DeliveryError):
            self.failed(call, n, outcome, now, wait)
            return
        with self._store.write() as unit:
            finish_reservation(unit, call, now)
            unit.provider_succeeded(call.provider, now)
            if not unit.owns_claim(n.id):
                taken_over(n, call, "sent")
                return
            unit.notification_tried(n.id)
            unit.notification_sent(n.id, now, call.provider, outcome, bundle[0] if bundle else None)
            if outcome and not n.outbound:
                unit.add_provider_messages(call.provider, outcome.split(), n.id)  # for delivery receipts
            ref = f" (ref {outcome})" if outcome else ""
            if n.outbound:
                text = f"{what(n)} #{n.id} sent to {call.provider}{ref}"
            elif n.direct:  # the answer to an SMS reply goes back through the provider the reply came by
                text = f"{what(n)} #{n.id} sent via {call.provider}{ref}"
            else:
                text = f"{what(n)} #{n.id} sent to {n.person} by {n.channel} via {call.provider}{ref}"
            if bundle is not None and bundle[2] > 1:
                text += f", bundled with {bundle[2] - 1} other alarm(s) under code {bundle[1]}"
            elif bundle is not None:
                text += f", in a bundle under code {bundle[1]}"
            if storm is not None:
                text += f": {storm}, so it went at once, bundled"
            unit.add_entry(n.incident, now, "notified", text, n.person or None)
        log.info(text, extra=ids(n.incident, n.id, call.provider, n.person, channel=n.channel))
        self._metrics.page(n.channel, call.provider, "sent")

    def failed(
        self, call: Call, n: Notification, error: DeliveryError, now: datetime, wait: timedelta | None = None
    ) -> None:
        """``wait``: the backoff to use (members of one bundle retry together, so they bundle again)."""
        provider = call.provider
        providers = self._delivery.providers(n)
        index = min(n.provider_index, max(len(providers) - 1, 0))
        tried_since = n.tried_since or now
        # Events and answers have one provider and nothing to fail over to: they wait for it, however long.
        deadline = None if n.direct else tried_since + self._delivery.deadline(n.channel)
        within_deadline = deadline is None or now < deadline
        who = call.provider if n.direct else f"{n.channel} to {n.person} via {provider}"
        if error.retry_after is not None:
            self._metrics.page(n.channel, provider, "throttled")
        else:
            self._metrics.page(n.channel, provider, "retry" if error.retryable and within_deadline else "failed")
        if error.retry_after is not None:
            self.throttled[provider] = max(self.throttled.get(provider, now), now + error.retry_after)
        with self._store.write() as unit:
            if n.purpose == Purpose.PAGE.value and not n.outbound:
                # Lock order: the incident before the notification row, as every decision does (a failure
                # for good decides DeliveryFailed on it; a resolve holds it while it cancels the rows).
                unit.incident(n.incident)
            finish_reservation(unit, call, now)
            if error.retry_after is not None:
                unit.provider_blocked(provider, now + error.retry_after)
            elif error.retryable:
                unit.provider_failed(provider, now, error.reason)
            if not unit.owns_claim(n.id):
                taken_over(n, call, f"failed ({error.reason})")
                return
            unit.notification_tried(n.id)
            if error.retryable and within_deadline:
                throttled = error.retry_after is not None
                attempts = n.attempts if throttled else n.attempts + 1
                wait = error.retry_after if throttled else (wait or backoff(attempts, self._rng))
                assert wait is not None
                if deadline is not None and now + wait > deadline:
                    wait = deadline - now  # the next provider gets its chance when the deadline is up
                unit.notification_retry(
                    n.id,
                    channel_index=n.channel_index,
                    provider_index=index,
                    attempts=attempts,
                    not_before=now + wait,
                    error=error.reason,
                    tried_since=tried_since,
                )
                kind = "delivery_throttled" if throttled else "delivery_retry"
                verb = "throttled" if throttled else "failed"
                held = f"held until {instant(now + wait)}, retrying in {seconds(wait)}"
                text = f"{what(n)} #{n.id}: {who} {verb} ({error.reason}); {held}"
                unit.add_entry(n.incident, now, kind, text, n.person or None)
                return
            why = error.reason if not error.retryable else f"{error.reason}; still failing after the channel's deadline"
            if not self._fail_over(unit, n, index, who, why, now, target=call.provider if n.outbound else n.person):
                return
        log.warning(
            "notification %d (%s) to %s: %s",
            n.id,
            n.purpose,
            n.person or call.provider,
            why,
            extra=ids(n.incident, n.id, call.provider, n.person, channel=n.channel),
        )

    def stranded(self, unit: Unit, n: Notification) -> list[Notification]:
        """The rows a delivery receipt saying ``n`` never arrived is about: ``n``, or every page of its
        storm bundle. Their incidents are locked first, in id order, as every decision does."""
        rows = [n]
        if n.bundle_id is not None:
            rows = [m for m in unit.bundle_notifications(n.bundle_id) if m.reference == n.reference] or [n]
        rows.sort(key=lambda r: (int(r.incident or 0), r.id))
        for row in rows:
            unit.incident(row.incident)
        return rows

    def undelivered(self, unit: Unit, rows: list[Notification], why: str, now: datetime) -> list[int]:
        """A delivery receipt said these rows (``stranded``) never reached their person (UNDELIV, REJECTD,
        EXPIRED, DELETED). A page whose stage is still current (``domain.stage``: the incident still
        waits for an acknowledgement and has not paged another stage since) fails over exactly like a
        refused send: the channel's next provider, then the person's next channel, and with none
        left it becomes ``DeliveryFailed``. Once per send: only a row still sent under the reference
        the receipt names is taken back, so another part's receipt, or the network repeating itself,
        does nothing more. Returns the rows failed over (or failed)."""
        moved = []
        for n in rows:
            if n.purpose != Purpose.PAGE.value or n.outbound:
                continue  # only pages fail over on a receipt: a status notice lost is on the timeline
            incident = unit.incident(n.incident)
            if incident is None or not is_current(incident, n.stage):
                continue  # acknowledged, resolved or escalated meanwhile: nobody needs this page any more
            if n.reference is None or not unit.notification_reopened(n.id, n.reference, now + LEASE):
                continue  # already failed over, or sent again since
            providers = self._delivery.providers(n)
            index = min(n.provider_index, max(len(providers) - 1, 0))
            who = f"{n.channel} to {n.person} via {n.provider}"
            if self._fail_over(unit, n, index, who, why, now, target=n.person):
                log.warning("page %d to %s: %s", n.id, n.person, why, extra=ids(n.incident, n.id, n.provider, n.person))
            moved.append(n.id)
        return moved

    def _fail_over(
        self, unit: Unit, n: Notification, index: int, who: str, why: str, now: datetime, target: str
    ) -> bool:
        """Hand ``n`` (claimed) to its channel's next provider, else the person's next channel; with none
        left it fails, and a page becomes ``DeliveryFailed`` for the state machine. True when it failed."""
        providers = self._delivery.providers(n)
        if not n.outbound and index + 1 < len(providers):
            following = providers[index + 1]
            self._move(unit, n, n.channel_index, index + 1, now, why)
            text = f"{what(n)} #{n.id}: {who} failed ({why}); trying {following}"
            unit.add_entry(n.incident, now, "delivery_failover", text, n.person)
            return False
        if not n.outbound and n.channel_index + 1 < len(n.channels):
            following = n.channels[n.channel_index + 1]
            self._move(unit, n, n.channel_index + 1, 0, now, why)
            text = f"{what(n)} #{n.id}: {who} failed ({why}); trying {following}"
            unit.add_entry(n.incident, now, "delivery_failover", text, n.person)
            return False
        incident = unit.incident(n.incident)  # lock order: the incident first, as every decision does
        now = self._clock.now()  # with the incident held: a wait for its lock is not the next step's window
        unit.notification_failed(n.id, why)
        unit.add_entry(n.incident, now, "delivery_error", f"Could not reach {target}: {why}", n.person or None)
        if incident is not None and n.purpose == Purpose.PAGE.value:
            self._escalator.apply(unit, incident, DeliveryFailed(n.person, why, n.stage), now)
        return True

    def _move(
        self, unit: Unit, n: Notification, channel_index: int, provider_index: int, now: datetime, why: str
    ) -> None:
        unit.notification_retry(
            n.id,
            channel_index=channel_index,
            provider_index=provider_index,
            attempts=0,
            not_before=now,
            error=why,
            tried_since=None,
        )


def taken_over(n: Notification, call: Call, what_happened: str) -> None:
    """A call ended for a row that is no longer this process's claim: cancelled meanwhile (a resolve),
    or claimed by another process since (this one's database session was lost: adapters/storage/claim.py).
    Recording the outcome would undo what happened to the row since (a failure marking a delivered page
    failed, a failover sending a cancelled or delivered page again): it is only logged."""
    log.warning(
        "notification %d via %s %s, but it was cancelled or claimed by another instance meanwhile: not recorded",
        n.id,
        call.provider,
        what_happened,
        extra=ids(n.incident, n.id, call.provider, n.person),
    )


def finish_reservation(unit: Unit, call: Call, now: datetime) -> None:
    """The call ended now: its rate slot counts from this moment."""
    if call.reservation is not None:
        unit.finish_send(call.reservation, now)
        call.reservation = None


def what(n: Notification) -> str:
    """How the timeline names a row: "Page", "Status", "Ticket (created)", "Answer to emma's reply"…
    (followed by `` #<id>``)."""
    if n.outbound:
        event = json.loads(n.payload).get("event", "event") if n.payload else "event"
        return f"{n.purpose.capitalize()} ({event})"
    if n.purpose == REPLY:
        return f"Answer to {n.person}'s reply" if n.person else "Answer to a reply"
    return n.purpose.capitalize()


def seconds(wait: timedelta) -> str:
    seconds = wait.total_seconds()
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def patiently(attempt: Callable[[], bool], seconds: float, pause: Callable[[float], None] = time.sleep) -> bool:
    """Try ``attempt`` until it returns True, for up to ``seconds`` real seconds; whether it did.

    A provider's network can report on a send (an SMSC's receipt, a Twilio status callback) before the
    dispatcher has committed the id the send returned (``outcome``): the report waits for that commit
    here rather than being taken for one about an unknown or earlier send. ``pause`` is how it waits
    between tries (a test's can tell when a report is waiting)."""
    deadline = time.monotonic() + seconds
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        pause(0.05)
    return True
