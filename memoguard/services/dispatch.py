"""The dispatcher: the one place that decides when, and through which provider, each outbox row goes.

A round (``drain``) plans under the dispatch lock, in one transaction: it reads the ready rows (pages,
then status messages, then incident events), groups them into calls — one message, a storm bundle, a
batch job, a job poll — and gives each call a slot in its provider's rate limits, whose log lives in the
database so every instance shares it. Calls without a slot wait in the outbox until the window allows
(their ``not_before`` moves there). The calls then run outside the transaction, each recorded as it
ends: sent, retried with backoff and jitter, throttled (the provider said "slow down": every instance
holds it until then), failed over to the channel's next provider after a permanent failure or once the
channel's deadline has passed, then to the person's next channel; a page nobody could take becomes a
DeliveryFailed event, so the escalation moves on early. Every attempt is on the incident's timeline.

Delivery is at least once: a crash between a provider accepting a message and the commit that records
it sends it again, with the same idempotency key (``Message.key``) for providers that honour one.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from memoguard.domain.effect import Purpose
from memoguard.domain.event import DeliveryFailed
from memoguard.domain.incident import IncidentState
from memoguard.domain.person import Person
from memoguard.domain.rate import Rate, allowance
from memoguard.domain.reply import CODE_REUSE
from memoguard.services.clock import Clock
from memoguard.services.delivery import Delivery, backoff
from memoguard.services.escalator import Escalator
from memoguard.services.provider import BatchProvider, DeliveryError, Message, Outcome, Provider
from memoguard.services.record import Notification
from memoguard.services.renderer import Renderer
from memoguard.services.store import Store, Unit

log = logging.getLogger(__name__)

BATCH = 200  # rows looked at per round; a full round means more may be waiting
LEASE = timedelta(seconds=30)
EARLIEST = datetime.min.replace(tzinfo=UTC)
STOP_ANSWERS = ("stop", "stop_again")  # answers that confirm a STOP still reach the number
AHEAD = timedelta(seconds=1)  # with pacing: how far ahead a round plans rate slots


@dataclass
class _Call:
    """One call to one provider, costing one slot of its rate limits."""

    provider: str
    kind: str  # single, bundle, batch, poll
    rows: list[Notification]
    references: dict[int, str | None] = field(default_factory=dict)
    reservation: int | None = None
    slot: datetime = EARLIEST  # when its rate slot opens


@dataclass
class _Budget:
    """A provider's rate limits in this round: the calls that count, and the slots planned now."""

    rates: tuple[Rate, ...]
    sends: list[datetime]  # counted calls (one in flight as late as it may still happen), plus planned ones
    blocked_until: datetime | None
    planned: int = 0  # how many of ``sends`` are this round's plan (the last ones)
    made: list[datetime] = field(default_factory=list)  # this round's calls, when each really ended

    def recount(self) -> _Budget:
        """The limits as the calls of this round really went: a call that ran late pushes the next one."""
        before = self.sends[: len(self.sends) - self.planned]
        return _Budget(self.rates, before + self.made, self.blocked_until)

    def slot(self, now: datetime) -> datetime:
        """The earliest moment from ``now`` at which one more call fits every window."""
        at = max(now, self.blocked_until or now)
        if not self.rates:
            return at
        while True:
            allowed = allowance(self.rates, self.sends, at)
            if allowed.available > 0:
                return at
            at = allowed.next_at


class Dispatcher:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        people: Mapping[str, Person],
        delivery: Delivery,
        providers: Mapping[str, Provider],
        escalator: Escalator,
        renderer: Renderer,
        rng: random.Random | None = None,
        pace: Callable[[float], None] | None = None,
    ) -> None:
        """``pace(seconds)`` waits that long (``time.sleep`` in the service; a test advances its clock).
        With it, a round also plans calls whose rate slot opens within ``AHEAD`` and waits for each slot,
        so a provider is used at its full rate rather than a little after each slot frees."""
        self._store = store
        self._clock = clock
        self._people = people
        self._delivery = delivery
        self._providers = providers
        self._escalator = escalator
        self._renderer = renderer
        self._rng = rng or random.Random()
        self._pace = pace
        self._ahead = AHEAD if pace is not None else timedelta()
        self._throttled: dict[str, datetime] = {}  # providers that said "slow down" during this round
        self._budgets: dict[str, _Budget] = {}  # this round's view of each provider's rate limits
        self._stopped: dict[int, str] = {}  # rows found opted out (STOP) by the pre-send check, and why

    def start(self) -> None:
        """Open the providers' standing connections (an SMSC link, which also brings replies in). Only
        the service does: a CLI command that queues nothing must not bind to an SMSC."""
        for provider in self._providers.values():
            start = getattr(provider, "start", None)
            if callable(start):
                start()

    def problems(self) -> list[str]:
        """What is wrong with the providers' links right now (an SMSC refusing the bind, a link down)."""
        found = []
        for provider in self._providers.values():
            problem = getattr(provider, "problem", None)
            if isinstance(problem, str) and problem:
                found.append(problem)
        return found

    def close(self) -> None:
        """Release the providers' connections (HTTP clients, SMSC links)."""
        for provider in self._providers.values():
            close = getattr(provider, "close", None)
            if callable(close):
                close()

    # --- rounds

    def drain(self, limit: int = BATCH) -> int:
        """Plan and run one round; returns how many rows it looked at (``limit`` means: call again)."""
        now = self._clock.now()
        with self._store.write() as unit:
            unit.lock_dispatch()
            rows = unit.ready_notifications(now, limit)
            if not rows:
                return 0
            calls = self._plan(unit, rows, now)
        self._throttled = {}
        for call in calls:
            until = self._throttled.get(call.provider)
            if until is not None:
                self._hold(call, until)  # the provider said "slow down" earlier in this round
                continue
            budget = self._budgets.get(call.provider)
            slot = call.slot if budget is None else max(call.slot, budget.recount().slot(self._clock.now()))
            wait = (slot - self._clock.now()).total_seconds()
            if wait > 0:
                if self._pace is None:
                    self._hold(call, slot)
                    continue
                self._pace(wait)
            self._run(call)
            if budget is not None:
                budget.made.append(self._clock.now())
        return len(rows)

    def drain_all(self) -> int:
        """Rounds until nothing is ready now (rows held by a rate limit wait for a later round)."""
        total = 0
        while True:
            seen = self.drain()
            total += seen
            if seen < BATCH:
                return total

    # --- planning (inside the dispatch lock)

    def _plan(self, unit: Unit, rows: list[Notification], now: datetime) -> list[_Call]:
        budgets: dict[str, _Budget] = {}
        planned: list[_Call] = []
        deferred: dict[datetime, list[int]] = defaultdict(list)
        beyond: dict[str, datetime] = {}  # per provider: the first slot past this round's horizon
        for call, wait_until in self._group(unit, rows, now):
            if wait_until is not None:
                deferred[wait_until].extend(r.id for r in call.rows)
                continue
            if call.provider not in budgets:
                budgets[call.provider] = self._budget(unit, call.provider, now)
            budget = budgets[call.provider]
            slot = budget.slot(now)
            if slot > now + self._ahead:
                # Every later call waits at least for this slot: one update defers them all, and the next
                # round, which comes no earlier, plans them again.
                first = beyond.setdefault(call.provider, slot)
                deferred[first].extend(r.id for r in call.rows)
                continue
            call.slot = slot
            budget.sends.append(slot)
            budget.planned += 1
            planned.append(call)
        claimed = set(unit.claim_notifications([r.id for c in planned for r in c.rows], now + self._ahead + LEASE))
        for until, ids in deferred.items():
            unit.defer_notifications(ids, until)
        calls = []
        limited: dict[str, list[_Call]] = defaultdict(list)
        for call in planned:
            call.rows = [r for r in call.rows if r.id in claimed]
            if not call.rows:
                continue
            if budgets[call.provider].rates:
                limited[call.provider].append(call)
            calls.append(call)
        for provider, provider_calls in limited.items():
            ids = unit.reserve_sends(provider, [c.slot for c in provider_calls])
            for call, reservation in zip(provider_calls, ids, strict=True):
                call.reservation = reservation
        self._budgets = budgets
        return calls

    def _budget(self, unit: Unit, provider: str, now: datetime) -> _Budget:
        rates = self._delivery.rates.get(provider, ())
        state = unit.provider_state(provider)
        blocked = state.blocked_until if state.blocked_until is not None and state.blocked_until > now else None
        if not rates:
            return _Budget(rates, [], blocked)
        longest = self._delivery.longest_window(provider)
        unit.prune_sends(provider, now - longest, now - 2 * LEASE - AHEAD)
        sends = unit.provider_sends(provider, now - longest)
        # A call in flight may reach the provider any moment from now: it counts as no earlier than now.
        return _Budget(rates, [at if done else max(at, now) for at, done in sends], blocked)

    def _group(self, unit: Unit, rows: list[Notification], now: datetime) -> list[tuple[_Call, datetime | None]]:
        """The calls these rows make, in priority order, each with the time it must wait for (storm
        control) or None."""
        out: list[tuple[_Call, datetime | None]] = []
        done: set[int] = set()
        jobs: dict[str, list[Notification]] = defaultdict(list)
        for r in rows:
            if r.job is not None:
                jobs[r.job].append(r)
        storm: dict[tuple[str, str, str], list[Notification]] = defaultdict(list)
        batches: dict[str, list[Notification]] = defaultdict(list)
        references: dict[int, str | None] = {}
        for r in rows:
            provider = self._delivery.target(r)
            if r.outbound and r.job is None:
                references[r.id] = unit.outbound_reference(r.incident, provider)
                built = self._providers.get(provider)
                if isinstance(built, BatchProvider) and built.batchable(self._message(r, references[r.id])):
                    batches[provider].append(r)
            elif r.purpose == Purpose.PAGE.value and r.job is None and self._delivery.storm_pages > 0:
                storm[(r.person, r.channel, provider)].append(r)
        for r in rows:
            if r.id in done:
                continue
            provider = self._delivery.target(r)
            if r.job is not None:
                # The whole job, in submission order: its results are matched to messages by position.
                members = unit.job_notifications(provider, r.job) or jobs[r.job]
                out.append((_Call(provider, "poll", members), None))
            elif r.outbound and r in batches[provider]:
                members = self._next_batch(batches[provider], provider)
                out.append((_Call(provider, "batch", members, {m.id: references[m.id] for m in members}), None))
            elif r.purpose == Purpose.PAGE.value and self._delivery.storm_pages > 0:
                members = storm[(r.person, r.channel, provider)]
                out.extend(self._storm(unit, members, provider, now))
            else:
                members = [r]
                out.append((_Call(provider, "single", members, {r.id: references.get(r.id)}), None))
            done.update(m.id for m in members)
        return out

    def _next_batch(self, queue: list[Notification], provider: str) -> list[Notification]:
        built = self._providers[provider]
        assert isinstance(built, BatchProvider)
        members, queue[:] = queue[: built.batch_size], queue[built.batch_size :]
        return members

    def _storm(
        self, unit: Unit, pages: list[Notification], provider: str, now: datetime
    ) -> list[tuple[_Call, datetime | None]]:
        """Storm control for one person on one channel: at most ``storm_pages`` messages per window; when
        more pages wait than slots remain, the last slot carries all the rest as one bundle."""
        first = pages[0]
        window = Rate(self._delivery.storm_pages, self._delivery.storm_window)
        recent = unit.recent_pages(first.person, first.channel, now - window.period, now)
        slots = allowance((window,), recent, now)
        if slots.available <= 0:
            return [(_Call(provider, "single", pages), slots.next_at)]
        if len(pages) <= slots.available:
            singles: list[tuple[_Call, datetime | None]] = [(_Call(provider, "single", [p]), None) for p in pages]
            return singles
        calls: list[tuple[_Call, datetime | None]] = [
            (_Call(provider, "single", [p]), None) for p in pages[: slots.available - 1]
        ]
        calls.append((_Call(provider, "bundle", pages[slots.available - 1 :]), None))
        return calls

    # --- running calls (outside the lock)

    def _run(self, call: _Call) -> None:
        provider = self._providers.get(call.provider)
        try:
            if provider is None:
                for row in call.rows:
                    self._outcome(
                        call, row, DeliveryError(f"{call.provider}: provider not configured", retryable=False)
                    )
            elif call.kind == "poll":
                self._poll(call, provider)
            elif call.kind == "batch":
                self._submit(call, provider)
            elif call.kind == "bundle":
                self._send_bundle(call, provider)
            else:
                self._send_single(call, provider)
        except Exception:  # a bug must not stall the queue: the lease brings the rows back
            log.exception("dispatching %s call to %s failed", call.kind, call.provider)

    def _send_single(self, call: _Call, provider: Provider) -> None:
        row = call.rows[0]
        if not self._still_wanted([row], call.reservation, call.provider):
            self._release(call)
            return
        if row.id in self._stopped:
            self._outcome(call, row, DeliveryError(self._stopped.pop(row.id), retryable=False))
            return
        self._outcome(call, row, self._attempt(lambda: provider.send(self._message(row, call.references.get(row.id)))))

    def _send_bundle(self, call: _Call, provider: Provider) -> None:
        members = self._still_wanted(call.rows, call.reservation, call.provider)
        if not members:
            self._release(call)
            return
        if len(members) == 1:
            call.rows = members
            self._send_single(call, provider)
            return
        now = self._clock.now()
        carrier = members[0]
        with self._store.read() as unit:
            summaries = [(m.incident, unit.incident(m.incident)) for m in members]
        with self._store.write() as unit:
            bundle = unit.add_bundle(carrier.person, carrier.channel, now, now - CODE_REUSE)
        person = self._people.get(carrier.person)
        context = {
            "count": len(members),
            "code": bundle.code,
            "incidents": [
                {"id": i, "summary": inc.summary if inc else "", "severity": inc.severity if inc else ""}
                for i, inc in summaries
            ],
        }
        text = self._renderer.render("bundle", person.language if person else "en", context)
        message = Message(
            id=carrier.id,
            key=f"memoguard-bundle-{bundle.id}",
            incident=carrier.incident,
            person=person or Person(carrier.person),
            channel=carrier.channel,
            purpose=carrier.purpose,
            subject=f"[memoguard] {len(members)} alarms",
            text=text,
            created_at=carrier.created_at,
            incidents=tuple(m.incident for m in members),
        )
        result = self._attempt(lambda: provider.send(message))
        call.rows = members
        wait = backoff(max(m.attempts for m in members) + 1, self._rng)
        for member in members:
            self._outcome(call, member, result, bundle=(bundle.id, bundle.code, len(members)), wait=wait)

    def _submit(self, call: _Call, provider: Provider) -> None:
        assert isinstance(provider, BatchProvider)
        call.rows.sort(key=lambda r: r.id)  # submission order is id order, as a later poll reads them back
        messages = [self._message(r, call.references.get(r.id)) for r in call.rows]
        try:
            job = provider.submit(messages)
        except Exception as error:
            if not isinstance(error, DeliveryError):
                log.exception("provider %s raised on a batch", call.provider)
            failure = error if isinstance(error, DeliveryError) else _unexpected(error)
            wait = backoff(max(r.attempts for r in call.rows) + 1, self._rng)  # retried together, as one batch
            for row in call.rows:
                self._outcome(call, row, failure, wait=wait)
            return
        now = self._clock.now()
        with self._store.write() as unit:
            self._finish_reservation(unit, call, now)
            unit.notification_submitted([r.id for r in call.rows], job, now + provider.poll_every, call.provider)
            for row in call.rows:
                text = (
                    f"{_what(row)} #{row.id} submitted to {call.provider} in batch job {job} ({len(call.rows)} in it)"
                )
                unit.add_entry(row.incident, now, "delivery_submitted", text, None)

    def _poll(self, call: _Call, provider: Provider) -> None:
        assert isinstance(provider, BatchProvider)
        job = call.rows[0].job
        assert job is not None
        with self._store.read() as unit:
            refs = {r.id: unit.outbound_reference(r.incident, call.provider) for r in call.rows}
        messages = [self._message(r, refs[r.id]) for r in call.rows]
        try:
            outcomes: list[Outcome] | None = provider.poll(job, messages)
        except DeliveryError as error:
            if error.retry_after is not None:
                with self._store.write() as unit:
                    unit.provider_blocked(call.provider, self._clock.now() + error.retry_after)
            outcomes = None
        except Exception:
            log.exception("provider %s raised polling job %s", call.provider, job)
            outcomes = None
        if outcomes is None:
            now = self._clock.now()
            with self._store.write() as unit:
                self._finish_reservation(unit, call, now)
                unit.notification_submitted([r.id for r in call.rows], job, now + provider.poll_every, call.provider)
            return
        for row, outcome in zip(call.rows, outcomes, strict=True):
            self._outcome(call, row, outcome)

    def _attempt(self, send: Callable[[], str | None]) -> Outcome:
        try:
            result = send()
        except DeliveryError as error:
            return error
        except Exception as error:  # a provider bug must not stall the queue: retry it like a transient failure
            log.exception("provider raised")
            return _unexpected(error)
        return result if result is None else str(result)

    def _still_wanted(self, rows: Sequence[Notification], reservation: int | None, provider: str) -> list[Notification]:
        """Just before sending: the claim is still ours (not cancelled by a resolve) and, for a page, the
        incident still waits for an acknowledgement. A page queued behind a rate limit, a retry or a slow
        batch must not wake someone after the incident was acknowledged or resolved. The call's rate
        slot is stamped with this moment: the window it fills ends a period after the call, not after
        the planning of its round."""
        now = self._clock.now()
        wanted = set()
        with self._store.write() as unit:
            if reservation is not None:
                unit.stamp_send(reservation, now)
            # Incidents are locked before notification rows, in id order, as every decision does.
            for n in sorted(rows, key=lambda r: int(r.incident)):
                incident = unit.incident(n.incident) if n.purpose == Purpose.PAGE.value else None
                if not unit.renew_claim(n.id, now + LEASE):
                    continue
                if n.purpose != Purpose.PAGE.value or (
                    incident is not None and incident.state == IncidentState.TRIGGERED
                ):
                    wanted.add(n.id)
                    stopped = self._opted_out(unit, n, provider)
                    if stopped is not None:
                        self._stopped[n.id] = stopped
                    continue
                state = "gone" if incident is None else incident.state.value
                unit.notification_cancelled(n.id, f"incident {state} before it was sent")
                text = f"Page #{n.id} to {n.person} not sent: the incident was {state} in the meantime"
                unit.add_entry(n.incident, now, "notification_dropped", text, n.person)
        return [n for n in rows if n.id in wanted]

    def _opted_out(self, unit: Unit, n: Notification, provider: str) -> str | None:
        """Why ``n`` may not go by SMS to a number that answered STOP (pages always go, and so does the
        answer confirming the STOP), or None."""
        if n.purpose == Purpose.PAGE.value or n.reason in STOP_ANSWERS:
            return None
        if not getattr(self._providers.get(provider), "sms", False):
            return None
        person = self._people.get(n.person)
        if person is None or not person.phone or not unit.opted_out(person.phone):
            return None
        return f"{person.phone} answered STOP: no SMS but pages"

    def _hold(self, call: _Call, until: datetime) -> None:
        """Put a planned call back unsent until ``until``: no attempt is counted, its slot is given back."""
        with self._store.write() as unit:
            if call.reservation is not None:
                unit.release_send(call.reservation)
                call.reservation = None
            for n in call.rows:
                if n.job is not None:
                    unit.notification_submitted([n.id], n.job, until, call.provider)
                    continue
                unit.notification_retry(
                    n.id,
                    channel_index=n.channel_index,
                    provider_index=n.provider_index,
                    attempts=n.attempts,
                    not_before=until,
                    error=f"{call.provider} asked to wait",
                    tried_since=n.tried_since,
                )

    def _release(self, call: _Call) -> None:
        if call.reservation is not None:
            with self._store.write() as unit:
                unit.release_send(call.reservation)
            call.reservation = None

    def _finish_reservation(self, unit: Unit, call: _Call, now: datetime) -> None:
        if call.reservation is not None:
            unit.finish_send(call.reservation, now)
            call.reservation = None

    def _message(self, n: Notification, reference: str | None) -> Message:
        person = None if n.outbound else (self._people.get(n.person) or Person(n.person))
        return Message(
            id=n.id,
            key=f"memoguard-{n.id}",
            incident=n.incident,
            person=person,
            channel=n.channel,
            purpose=n.purpose,
            subject=n.subject,
            text=n.text,
            created_at=n.created_at,
            step=n.step,
            event=json.loads(n.payload) if n.payload else None,
            reference=reference,
        )

    # --- outcomes

    def _outcome(
        self,
        call: _Call,
        n: Notification,
        outcome: Outcome,
        bundle: tuple[int, int, int] | None = None,
        wait: timedelta | None = None,
    ) -> None:
        now = self._clock.now()
        if isinstance(outcome, DeliveryError):
            self._failed(call, n, outcome, now, wait)
            return
        with self._store.write() as unit:
            self._finish_reservation(unit, call, now)
            unit.provider_succeeded(call.provider, now)
            unit.notification_sent(n.id, now, call.provider, outcome, bundle[0] if bundle else None)
            if outcome and not n.outbound:
                unit.add_provider_messages(call.provider, outcome.split(), n.id)  # for delivery receipts
            ref = f" (ref {outcome})" if outcome else ""
            if n.outbound:
                text = f"{_what(n)} #{n.id} sent to {call.provider}{ref}"
            else:
                text = f"{_what(n)} #{n.id} sent to {n.person} by {n.channel} via {call.provider}{ref}"
            if bundle is not None:
                text += f", bundled with {bundle[2] - 1} other alarm(s) under code {bundle[1]}"
            unit.add_entry(n.incident, now, "notified", text, n.person or None)

    def _failed(
        self, call: _Call, n: Notification, error: DeliveryError, now: datetime, wait: timedelta | None = None
    ) -> None:
        """``wait``: the backoff to use (members of one bundle retry together, so they bundle again)."""
        provider = call.provider
        providers = self._delivery.providers(n)
        index = min(n.provider_index, max(len(providers) - 1, 0))
        tried_since = n.tried_since or now
        # Events and answers have one provider and nothing to fail over to: they wait for it, however long.
        deadline = None if n.direct else tried_since + self._delivery.deadline(n.channel)
        within_deadline = deadline is None or now < deadline
        who = call.provider if n.outbound else f"{n.channel} to {n.person} via {provider}"
        if error.retry_after is not None:
            self._throttled[provider] = max(self._throttled.get(provider, now), now + error.retry_after)
        with self._store.write() as unit:
            self._finish_reservation(unit, call, now)
            if error.retry_after is not None:
                unit.provider_blocked(provider, now + error.retry_after)
            elif error.retryable:
                unit.provider_failed(provider, now, error.reason)
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
                text = f"{_what(n)} #{n.id}: {who} {verb} ({error.reason}); retrying in {_seconds(wait)}"
                unit.add_entry(n.incident, now, kind, text, n.person or None)
                return
            why = error.reason if not error.retryable else f"{error.reason}; still failing after the channel's deadline"
            if not n.outbound and index + 1 < len(providers):
                following = providers[index + 1]
                self._move(unit, n, n.channel_index, index + 1, now, why)
                text = f"{_what(n)} #{n.id}: {who} failed ({why}); trying {following}"
                unit.add_entry(n.incident, now, "delivery_failover", text, n.person)
                return
            if not n.outbound and n.channel_index + 1 < len(n.channels):
                following = n.channels[n.channel_index + 1]
                self._move(unit, n, n.channel_index + 1, 0, now, why)
                text = f"{_what(n)} #{n.id}: {who} failed ({why}); trying {following}"
                unit.add_entry(n.incident, now, "delivery_failover", text, n.person)
                return
            incident = unit.incident(n.incident)  # lock order: the incident first, as every decision does
            unit.notification_failed(n.id, why)
            target = call.provider if n.outbound else n.person
            unit.add_entry(n.incident, now, "delivery_error", f"Could not reach {target}: {why}", n.person or None)
            if incident is not None and n.purpose == Purpose.PAGE.value:
                self._escalator.apply(unit, incident, DeliveryFailed(n.person, why), now)
        log.warning("notification %d (%s) to %s: %s", n.id, n.purpose, n.person or call.provider, why)

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


def _unexpected(error: Exception) -> DeliveryError:
    return DeliveryError(f"unexpected {type(error).__name__}: {error}", retryable=True)


def _what(n: Notification) -> str:
    if n.outbound:
        event = json.loads(n.payload).get("event", "event") if n.payload else "event"
        return f"{n.purpose.capitalize()} ({event})"
    return n.purpose.capitalize()


def _seconds(wait: timedelta) -> str:
    seconds = wait.total_seconds()
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
