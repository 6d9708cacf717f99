"""The outbox as an operator sees it: per provider, what waits, what is in flight, what went out or
failed, how full each rate window is, when the next call is allowed, and whether it is failing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from memoguard.domain.rate import allowance
from memoguard.services.clock import Clock
from memoguard.services.delivery import Delivery
from memoguard.services.record import DIRECT, NotificationStatus, ProviderState, QueueCount
from memoguard.services.store import Store

IN_FLIGHT = (NotificationStatus.SENDING, NotificationStatus.SUBMITTED)


@dataclass(frozen=True)
class Window:
    rate: str  # as configured, e.g. 20/s
    used: int  # calls within the window ending now (calls in flight included)
    limit: int


@dataclass
class ProviderQueue:
    name: str
    queued: int = 0
    in_flight: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0
    windows: list[Window] = field(default_factory=list)
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
        return [report[name] for name in sorted(report)]

    def failing(self) -> list[ProviderQueue]:
        """Providers failing for longer than their deadline (what /readyz reports)."""
        return [entry for entry in self.report() if entry.failing]

    def _provider_of(self, count: QueueCount) -> str:
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
        "next_send_at": entry.next_send_at.isoformat() if entry.next_send_at else None,
        "blocked_until": entry.blocked_until.isoformat() if entry.blocked_until else None,
        "failing_since": entry.failing_since.isoformat() if entry.failing_since else None,
        "last_error": entry.last_error,
        "failing": entry.failing,
    }
