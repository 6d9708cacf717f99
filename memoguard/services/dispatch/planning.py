"""Planning a dispatch round: which calls the ready rows make, and which rate slot each one takes.

Planning runs under the dispatch lock (a PostgreSQL advisory lock; SQLite writers are serial), in the
transaction that claims the rows, so two instances never plan the same row or the same slot. It groups
rows into calls in priority order — a batch job's poll, a batch submission for a provider that takes
batches, a storm bundle for a person paged too often, or one message — then gives each call the
earliest slot its provider's rate limits allow. A call whose slot is beyond this round's horizon is
deferred to it (``not_before``), so nothing spins. It is apart from the running of calls because it is
the only part that holds the lock: everything here is reads and writes of the database, no provider call.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from memoguard.domain.effect import Purpose
from memoguard.domain.person import Person
from memoguard.domain.rate import Rate, allowance
from memoguard.services.delivery import Delivery
from memoguard.services.dispatch.pacing import AHEAD, LEASE, Budget, Call, held_note, record_held
from memoguard.services.provider import BatchProvider, Message, Provider
from memoguard.services.record import Notification
from memoguard.services.store import Unit


class Planner:
    def __init__(
        self, delivery: Delivery, providers: Mapping[str, Provider], people: Mapping[str, Person], ahead: timedelta
    ) -> None:
        """``ahead``: how far past now a round plans rate slots (with pacing, the dispatcher waits for them)."""
        self._delivery = delivery
        self._providers = providers
        self._people = people
        self._ahead = ahead

    def plan(self, unit: Unit, rows: list[Notification], now: datetime) -> tuple[list[Call], dict[str, Budget]]:
        """The calls to run now, claimed and with their rate slots reserved, and each provider's budget."""
        budgets: dict[str, Budget] = {}
        planned: list[Call] = []
        deferred: dict[tuple[datetime, str], list[Notification]] = defaultdict(list)
        beyond: dict[str, datetime] = {}  # per provider: the first slot past this round's horizon
        for call in self._group(unit, rows, now):
            if call.provider not in budgets:
                budgets[call.provider] = self._budget(unit, call.provider, now)
            budget = budgets[call.provider]
            slot = budget.slot(now)
            if slot > now + self._ahead:
                # Every later call waits at least for this slot: one update defers them all, and the next
                # round, which comes no earlier, plans them again.
                first = beyond.setdefault(call.provider, slot)
                deferred[(first, budget.why(call.provider, first))].extend(call.rows)
                continue
            call.slot = slot
            budget.sends.append(slot)
            budget.planned += 1
            planned.append(call)
        claimed = set(unit.claim_notifications([r.id for c in planned for r in c.rows], now + self._ahead + LEASE))
        for (until, why), held in deferred.items():
            unit.defer_notifications([r.id for r in held], until, held_note(why))
            for r in held:
                record_held(unit, r, until, why, now)
        calls = []
        limited: dict[str, list[Call]] = defaultdict(list)
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
        return calls, budgets

    def _budget(self, unit: Unit, provider: str, now: datetime) -> Budget:
        rates = self._delivery.rates.get(provider, ())
        state = unit.provider_state(provider)
        blocked = state.blocked_until if state.blocked_until is not None and state.blocked_until > now else None
        if not rates:
            return Budget(rates, [], blocked)
        longest = self._delivery.longest_window(provider)
        unit.prune_sends(provider, now - longest, now - 2 * LEASE - AHEAD)
        sends = unit.provider_sends(provider, now - longest)
        # A call in flight may reach the provider any moment from now: it counts as no earlier than now.
        return Budget(rates, [at if done else max(at, now) for at, done in sends], blocked)

    def _group(self, unit: Unit, rows: list[Notification], now: datetime) -> list[Call]:
        """The calls these rows make, in priority order. Only rate limits make a call wait: storm control
        bundles, it never holds a page back."""
        out: list[Call] = []
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
                if isinstance(built, BatchProvider) and built.batchable(message(self._people, r, references[r.id])):
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
                out.append(Call(provider, "poll", members))
            elif r.outbound and r in batches[provider]:
                members = self._next_batch(batches[provider], provider)
                out.append(Call(provider, "batch", members, {m.id: references[m.id] for m in members}))
            elif r.purpose == Purpose.PAGE.value and self._delivery.storm_pages > 0:
                members = storm[(r.person, r.channel, provider)]
                out.extend(self._storm(unit, members, provider, now))
            else:
                members = [r]
                out.append(Call(provider, "single", members, {r.id: references.get(r.id)}))
            done.update(m.id for m in members)
        return out

    def _next_batch(self, queue: list[Notification], provider: str) -> list[Notification]:
        built = self._providers[provider]
        assert isinstance(built, BatchProvider)
        members, queue[:] = queue[: built.batch_size], queue[built.batch_size :]
        return members

    def _storm(self, unit: Unit, pages: list[Notification], provider: str, now: datetime) -> list[Call]:
        """Storm control for one person on one channel: at most ``storm_pages`` separate messages per
        window. When more pages wait than slots remain, the last slot carries all the rest as one bundle;
        when no slot remains, all of them go at once as one bundle (``beyond``). A page never waits for
        the window to reopen: its step's acknowledgement clock is already running."""
        first = pages[0]
        window = Rate(self._delivery.storm_pages, self._delivery.storm_window)
        recent = unit.recent_pages(first.person, first.channel, now - window.period, now)
        available = allowance((window,), recent, now).available
        if available <= 0:
            return [Call(provider, "bundle", pages, beyond=True)]
        if len(pages) <= available:
            return [Call(provider, "single", [p]) for p in pages]
        calls = [Call(provider, "single", [p]) for p in pages[: available - 1]]
        calls.append(Call(provider, "bundle", pages[available - 1 :]))
        return calls


def message(people: Mapping[str, Person], n: Notification, reference: str | None) -> Message:
    """What a provider is handed for ``n`` (an incident event carries its payload and the reference the
    provider gave the incident's first event, e.g. its ticket id)."""
    person = None if n.outbound else (people.get(n.person) or Person(n.person))
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
