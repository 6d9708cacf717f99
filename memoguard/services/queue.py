"""The outbox as an operator sees it: per provider, what waits, what is in flight, what went out or
failed, how full each rate window is, when the next call is allowed, and whether it is failing.

What waits is split by why: a row held back (a full rate window, a provider that asked to wait, a
retry's backoff) is listed with its reason and until when, and when everything queued is held, the next
send is when the first of them may go — never "now" while a page is in fact waiting."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from memoguard.domain.rate import allowance
from memoguard.services.clock import Clock
from memoguard.services.delivery import Delivery
from memoguard.services.record import DIRECT, HeldCount, NotificationStatus, ProviderState, QueueCount
from memoguard.services.store import Store

IN_FLIGHT = (NotificationStatus.SENDING, NotificationStatus.SUBMITTED)


@dataclass(frozen=True)
class Window:
    rate: str  # as configured, e.g. 20/s
    used: int  # calls within the window ending now (calls in flight included)
    limit: int


@dataclass(frozen=True)
class Held:
    """Queued notifications that may not go yet: how many, of which purpose, why, and from when to when
    they may go (the first and the last of them)."""

    purpose: str
    count: int
    why: str
    first: datetime
    until: datetime


@dataclass
class ProviderQueue:
    name: str
    queued: int = 0
    in_flight: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    windows: list[Window] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)  # queued rows that may not go yet, by why
    next_send_at: datetime | None = None  # None: now, as far as limits go
    blocked_until: datetime | None = None  # the provider asked to wait (429, throttling)
    failing_since: datetime | None = None
    last_error: str | None = None
    failing: bool = False  # failing for longer than the deadline of a channel it serves


class Queue:
    def __init__(self, store: Store, clock: Clock, delivery: Delivery, providers: Iterable[str]) -> None:
        self._store = store
        self._clock = clock
        self._delivery = delivery
        self._providers = tuple(providers)

    def report(self) -> list[ProviderQueue]:
        now = self._clock.now()
        with self._store.read() as unit:
            counts = unit.queue_counts()
            held = unit.held_counts(now)
            states = {s.name: s for s in unit.provider_states()}
            sends = {
                name: unit.provider_sends(name, now - self._delivery.longest_window(name))
                for name in self._providers
                if self._delivery.rates.get(name)
            }
        report = {name: ProviderQueue(name) for name in self._providers}
        for count in counts:
            name = self._provider_of(count)
            entry = report.setdefault(name, ProviderQueue(name))
            _add(entry, count)
        for hold in held:
            name = self._provider_of(hold)
            entry = report.setdefault(name, ProviderQueue(name))
            entry.held.append(Held(hold.purpose, hold.count, _why(hold), hold.first, hold.last))
        for name, entry in report.items():
            rates = self._delivery.rates.get(name, ())
            times = [at if done else now for at, done in sends.get(name, [])]
            entry.windows = [
                Window(str(rate), sum(1 for t in times if t >= now - rate.period), rate.count) for rate in rates
            ]
            if rates:
                allowed = allowance(rates, times, now)
                entry.next_send_at = None if allowed.available > 0 else allowed.next_at
            self._health(entry, states.get(name), now)
            waiting = sum(h.count for h in entry.held)
            if entry.queued and waiting >= entry.queued:  # nothing queued may go now
                first = min(h.first for h in entry.held)
                entry.next_send_at = max(entry.next_send_at or first, first)
        return [report[name] for name in sorted(report)]

    def failing(self) -> list[ProviderQueue]:
        """Providers failing for longer than their deadline (what /readyz reports).

        Only the providers' states are read first: /readyz runs every few seconds, and the full report
        counts every notification ever written (its sent and cancelled totals), which made readiness
        slower with every incident closed (issue 14). The report is built only when one is failing."""
        now = self._clock.now()
        with self._store.read() as unit:
            states = unit.provider_states()
        if not any(s.failing_since is not None and now - s.failing_since >= self._deadline(s.name) for s in states):
            return []
        return [entry for entry in self.report() if entry.failing]

    def _provider_of(self, count: QueueCount | HeldCount) -> str:
        if count.purpose in DIRECT:
            return count.channel
        providers = self._delivery.channels.get(count.channel, ())
        if not providers:
            return count.channel
        return providers[min(count.provider_index, len(providers) - 1)]

    def _health(self, entry: ProviderQueue, state: ProviderState | None, now: datetime) -> None:
        if state is None:
            return
        if state.blocked_until is not None and state.blocked_until > now:
            entry.blocked_until = state.blocked_until
            entry.next_send_at = max(entry.next_send_at or now, state.blocked_until)
        entry.failing_since = state.failing_since
        entry.last_error = state.last_error if state.failing_since is not None else None
        if state.failing_since is not None:
            entry.failing = now - state.failing_since >= self._deadline(entry.name)

    def _deadline(self, provider: str) -> timedelta:
        """The shortest deadline among the channels this provider serves: past it, some page has had to
        go around it."""
        served = [channel for channel, names in self._delivery.channels.items() if provider in names]
        return min((self._delivery.deadline(channel) for channel in served), default=self._delivery.deadline(""))


def _why(count: HeldCount) -> str:
    if count.error is not None and count.error.startswith("held: "):
        return count.error.removeprefix("held: ")
    if count.attempts:
        return f"retry after a failure ({count.error})" if count.error else "retry after a failure"
    return count.error or "not before a later time"


def _add(entry: ProviderQueue, count: QueueCount) -> None:
    match count.status:
        case NotificationStatus.PENDING:
            entry.queued += count.count
        case NotificationStatus.SENDING | NotificationStatus.SUBMITTED:
            entry.in_flight += count.count
        case NotificationStatus.SENT:
            entry.sent += count.count
        case NotificationStatus.FAILED:
            entry.failed += count.count
        case NotificationStatus.CANCELLED:
            entry.cancelled += count.count


def describe(entry: ProviderQueue) -> dict[str, object]:
    """The JSON shape of ``memoguard queue --json`` and of /readyz's provider problems."""
    return {
        "provider": entry.name,
        "queued": entry.queued,
        "in_flight": entry.in_flight,
        "sent": entry.sent,
        "failed": entry.failed,
        "cancelled": entry.cancelled,
        "windows": [{"rate": w.rate, "used": w.used, "limit": w.limit} for w in entry.windows],
        "held": [
            {
                "purpose": h.purpose,
                "count": h.count,
                "why": h.why,
                "first": h.first.isoformat(),
                "until": h.until.isoformat(),
            }
            for h in entry.held
        ],
        "next_send_at": entry.next_send_at.isoformat() if entry.next_send_at else None,
        "blocked_until": entry.blocked_until.isoformat() if entry.blocked_until else None,
        "failing_since": entry.failing_since.isoformat() if entry.failing_since else None,
        "last_error": entry.last_error,
        "failing": entry.failing,
    }
