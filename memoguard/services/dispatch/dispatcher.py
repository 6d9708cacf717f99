"""Running a dispatch round: the calls planned, each sent outside the lock, checked just before.

``drain`` plans a round (``planning``) and then runs its calls one by one outside the transaction, each
waiting for its rate slot (with pacing) or put back until it (without). Just before each send the
claim is renewed and a page must still be wanted: its stage current (``domain.stage``) and its person
not an acker. A page queued behind a rate limit, a retry, a slow batch or a dead instance's claim is
dropped (``notification_dropped``, saying why) once the incident was acknowledged or resolved, once
another stage was paged, and once its person acknowledged.
What each call's provider answered is handed to ``recording``. This module is the only one that talks
to providers; the provider's own errors never escape it (a bug is retried like a transient failure).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from memoguard.domain.duration import format_duration
from memoguard.domain.effect import Purpose
from memoguard.domain.person import Person
from memoguard.domain.reply import CODE_REUSE
from memoguard.domain.stage import unwanted
from memoguard.services.clock import Clock
from memoguard.services.delivery import Delivery, backoff
from memoguard.services.dispatch.pacing import AHEAD, LEASE, Budget, Call, held_note, record_held
from memoguard.services.dispatch.planning import Planner, message
from memoguard.services.dispatch.recording import Recorder, finish_reservation, what
from memoguard.services.escalator import Escalator
from memoguard.services.logfields import ids
from memoguard.services.metrics import NO_METRICS, Metrics
from memoguard.services.provider import BatchProvider, DeliveryError, Message, Outcome, Provider
from memoguard.services.record import Notification
from memoguard.services.renderer import Renderer
from memoguard.services.store import Store, StoreUnavailable, Unit

log = logging.getLogger(__name__)

BATCH = 200  # rows looked at per round; a full round means more may be waiting
STOP_ANSWERS = ("stop", "stop_again")  # answers that confirm a STOP still reach the number


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
        metrics: Metrics = NO_METRICS,
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
        self._planner = Planner(delivery, providers, people, self._ahead)
        self._recorder = Recorder(store, clock, delivery, escalator, self._rng, metrics)
        self._budgets: dict[str, Budget] = {}  # this round's view of each provider's rate limits
        self._stopped: dict[int, str] = {}  # rows found opted out (STOP) by the pre-send check, and why
        self._halted = threading.Event()  # the service is stopping: no further call is started

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

    def halt(self) -> None:
        """The service is stopping (from any thread): the call under way finishes and is recorded, no
        further call of the round starts, and their rows go back to the queue at once (``drain``)."""
        self._halted.set()

    def close(self) -> None:
        """Release the providers' connections (HTTP clients, SMSC links)."""
        for provider in self._providers.values():
            close = getattr(provider, "close", None)
            if callable(close):
                close()

    # --- rounds

    def drain(self, limit: int = BATCH) -> int:
        """Plan and run one round; returns how many rows it looked at (``limit`` means: call again)."""
        if self._halted.is_set():
            return 0
        with self._store.write() as unit:
            unit.lock_dispatch()
            now = self._clock.now()  # once planning is ours: a wait for the lock is not time already spent
            rows = unit.ready_notifications(now, limit)
            if not rows:
                return 0
            calls, self._budgets = self._planner.plan(unit, rows, now)
        self._recorder.throttled = {}
        for index, call in enumerate(calls):
            if self._halted.is_set():
                self._hand_back(calls[index:])
                break
            until = self._recorder.throttled.get(call.provider)
            if until is not None:
                self._hold(call, until, f"{call.provider} asked to wait")  # it said "slow down" earlier this round
                continue
            budget = self._budgets.get(call.provider)
            slot = call.slot if budget is None else max(call.slot, budget.recount().slot(self._clock.now()))
            wait = (slot - self._clock.now()).total_seconds()
            if wait > 0:
                if self._pace is None:
                    why = f"{call.provider} asked to wait" if budget is None else budget.why(call.provider, slot)
                    self._hold(call, slot, why)
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

    # --- running calls (outside the lock)

    def _run(self, call: Call) -> None:
        provider = self._providers.get(call.provider)
        try:
            if provider is None:
                for row in call.rows:
                    self._recorder.outcome(
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
        except StoreUnavailable as error:  # an outage, not a bug: the rows are due again at once
            log.warning(
                "dispatching %s call to %s: %s; its rows go back to the queue",
                call.kind,
                call.provider,
                error,
                extra=_fields(call),
            )
            self._give_back(call, later=False)
        except Exception:  # a bug must not stall the queue: the rows are given back, to be tried again later
            log.exception("dispatching %s call to %s failed", call.kind, call.provider, extra=_fields(call))
            self._give_back(call)

    def _send_single(self, call: Call, provider: Provider) -> None:
        row = call.rows[0]
        if not self._still_wanted([row], call.reservation, call.provider):
            self._release(call)
            return
        if row.id in self._stopped:
            self._recorder.outcome(call, row, DeliveryError(self._stopped.pop(row.id), retryable=False))
            return
        sent = message(self._people, row, call.references.get(row.id))
        self._recorder.outcome(call, row, self._attempt(lambda: provider.send(sent)))

    def _send_bundle(self, call: Call, provider: Provider) -> None:
        members = self._still_wanted(call.rows, call.reservation, call.provider)
        if not members:
            self._release(call)
            return
        if len(members) == 1 and not call.beyond:
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
        bundled = Message(
            id=carrier.id,
            key=f"memoguard-bundle-{bundle.id}",
            incident=carrier.incident,
            person=person or Person(carrier.person),
            channel=carrier.channel,
            purpose=carrier.purpose,
            subject=f"[memoguard] {len(members)} alarm{'s' if len(members) > 1 else ''}",
            text=text,
            created_at=carrier.created_at,
            incidents=tuple(m.incident for m in members),
        )
        result = self._attempt(lambda: provider.send(bundled))
        call.rows = members
        wait = backoff(max(m.attempts for m in members) + 1, self._rng)
        storm = None
        if call.beyond:
            limit = f"{self._delivery.storm_pages} pages on {carrier.channel} within"
            storm = f"{carrier.person} had {limit} {format_duration(self._delivery.storm_window)} (the storm limit)"
        for member in members:
            self._recorder.outcome(
                call, member, result, bundle=(bundle.id, bundle.code, len(members)), wait=wait, storm=storm
            )

    def _submit(self, call: Call, provider: Provider) -> None:
        assert isinstance(provider, BatchProvider)
        call.rows.sort(key=lambda r: r.id)  # submission order is id order, as a later poll reads them back
        messages = [message(self._people, r, call.references.get(r.id)) for r in call.rows]
        try:
            job = provider.submit(messages)
        except Exception as error:
            if not isinstance(error, DeliveryError):
                log.exception("provider %s raised on a batch", call.provider, extra=ids(provider=call.provider))
            failure = error if isinstance(error, DeliveryError) else _unexpected(error)
            wait = backoff(max(r.attempts for r in call.rows) + 1, self._rng)  # retried together, as one batch
            for row in call.rows:
                self._recorder.outcome(call, row, failure, wait=wait)
            return
        now = self._clock.now()
        with self._store.write() as unit:
            finish_reservation(unit, call, now)
            unit.notification_submitted([r.id for r in call.rows], job, now + provider.poll_every, call.provider)
            for row in call.rows:
                text = f"{what(row)} #{row.id} submitted to {call.provider} in batch job {job} ({len(call.rows)} in it)"
                unit.add_entry(row.incident, now, "delivery_submitted", text, None)

    def _poll(self, call: Call, provider: Provider) -> None:
        assert isinstance(provider, BatchProvider)
        job = call.rows[0].job
        assert job is not None
        with self._store.read() as unit:
            refs = {r.id: unit.outbound_reference(r.incident, call.provider) for r in call.rows}
        messages = [message(self._people, r, refs[r.id]) for r in call.rows]
        try:
            outcomes: list[Outcome] | None = provider.poll(job, messages)
        except DeliveryError as error:
            if error.retry_after is not None:
                with self._store.write() as unit:
                    unit.provider_blocked(call.provider, self._clock.now() + error.retry_after)
            outcomes = None
        except Exception:
            log.exception("provider %s raised polling job %s", call.provider, job, extra=ids(provider=call.provider))
            outcomes = None
        if outcomes is None:
            now = self._clock.now()
            with self._store.write() as unit:
                finish_reservation(unit, call, now)
                unit.notification_submitted([r.id for r in call.rows], job, now + provider.poll_every, call.provider)
            return
        for row, outcome in zip(call.rows, outcomes, strict=True):
            self._recorder.outcome(call, row, outcome)

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
        """Just before sending: the claim is still ours (not cancelled by a resolve) and, for a page, its
        stage is still current and its person has not acknowledged (``domain.stage.unwanted``). A page
        queued behind a rate limit, a retry, a slow batch or a dead instance's claim must not wake
        someone after the incident was acknowledged or resolved, after the escalation moved on to
        another stage, or after that person answered. The call's rate slot is stamped with this moment:
        the window it fills ends a period after the call, not after the planning of its round."""
        wanted = set()
        with self._store.write() as unit:
            now = self._clock.now()  # once the write lock is held (SQLite: a wait for it is not the lease's)
            if reservation is not None:
                unit.stamp_send(reservation, now)
            # Incidents are locked before notification rows, in id order, as every decision does.
            for n in sorted(rows, key=lambda r: int(r.incident or 0)):
                incident = unit.incident(n.incident) if n.purpose == Purpose.PAGE.value else None
                if not unit.renew_claim(n.id, now + LEASE):
                    continue
                why = None
                if n.purpose == Purpose.PAGE.value:
                    why = "the incident is gone" if incident is None else unwanted(incident, n.stage, n.person)
                if why is None:
                    wanted.add(n.id)
                    stopped = self._opted_out(unit, n, provider)
                    if stopped is not None:
                        self._stopped[n.id] = stopped
                    continue
                unit.notification_cancelled(n.id, f"not sent: {why}")
                text = f"Page #{n.id} to {n.person} not sent: {why}"
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

    def _hold(self, call: Call, until: datetime, why: str) -> None:
        """Put a planned call back unsent until ``until``: no attempt is counted, its slot is given back,
        and a page's timeline says it is held, why and until when."""
        with self._store.write() as unit:
            now = self._clock.now()
            if call.reservation is not None:
                unit.release_send(call.reservation)
                call.reservation = None
            for n in call.rows:
                if not unit.owns_claim(n.id):
                    continue  # taken over meanwhile: the row is its new claimer's to hold or send
                if n.job is not None:
                    unit.notification_submitted([n.id], n.job, until, call.provider)
                    continue
                unit.notification_retry(
                    n.id,
                    channel_index=n.channel_index,
                    provider_index=n.provider_index,
                    attempts=n.attempts,
                    not_before=until,
                    error=held_note(why),
                    tried_since=n.tried_since,
                )
                record_held(unit, n, until, why, now)

    def _give_back(self, call: Call, later: bool = True) -> None:
        """After a bug: the call's rows still claimed by this process go back to the queue a lease later
        (a live process's claims are never taken over; if this write fails too, the rows come back when
        this process's database session ends). After the database dropped the session (``later=False``):
        due at once, since waiting a lease made a page outlast its step and be dropped unsent
        (tests/e2e/test_ha.py)."""
        try:
            with self._store.write() as unit:
                now = self._clock.now()
                finish_reservation(unit, call, now)  # the call may have reached the provider
                unit.release_claims([r.id for r in call.rows], now + LEASE if later else now)
        except Exception:
            log.exception("giving back the rows of a failed %s call to %s failed", call.kind, call.provider)

    def _hand_back(self, calls: Sequence[Call]) -> None:
        """A stop: calls never started go back to the queue, due now, their rate reservations freed."""
        now = self._clock.now()
        with self._store.write() as unit:
            for call in calls:
                if call.reservation is not None:
                    unit.release_send(call.reservation)
                    call.reservation = None
                unit.release_claims([r.id for r in call.rows], now)
        log.info("stopping: %d call(s) of this round given back to the queue", len(calls))

    def _release(self, call: Call) -> None:
        if call.reservation is not None:
            with self._store.write() as unit:
                unit.release_send(call.reservation)
            call.reservation = None


def _unexpected(error: Exception) -> DeliveryError:
    return DeliveryError(f"unexpected {type(error).__name__}: {error}", retryable=True)


def _fields(call: Call) -> dict[str, str | int]:
    """A call's log fields: its provider, and the ids of its row when it carries one."""
    if len(call.rows) == 1:
        row = call.rows[0]
        return ids(row.incident, row.id, call.provider, row.person)
    return ids(provider=call.provider)
