"""The delivery rules the dispatcher follows: which providers serve a channel and in what order, how long
one provider's transient failures are retried, each provider's rate limits, and storm control."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from memoguard.domain.rate import Rate
from memoguard.services.record import Notification

DEFAULT_DEADLINE = timedelta(minutes=2)
MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True)
class Delivery:
    channels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # channel → providers, failover order
    deadlines: Mapping[str, timedelta] = field(default_factory=dict)  # channel → retry deadline per provider
    rates: Mapping[str, tuple[Rate, ...]] = field(default_factory=dict)  # provider → limits, all at once
    storm_pages: int = 3  # per person, channel and window; 0 turns storm control off
    storm_window: timedelta = timedelta(minutes=10)

    def providers(self, n: Notification) -> tuple[str, ...]:
        """The providers that can carry ``n`` on its current channel, in failover order. An incident
        event's or an SMS answer's only channel is its provider."""
        if n.direct:
            return (n.channel,)
        return self.channels.get(n.channel, ())

    def target(self, n: Notification) -> str:
        """The provider ``n`` goes to next. A configuration edited since the row was written may have
        fewer providers: then the channel's last one (an unknown channel yields its own name, which no
        provider has, so the send fails over)."""
        providers = self.providers(n)
        if not providers:
            return n.channel
        return providers[min(n.provider_index, len(providers) - 1)]

    def deadline(self, channel: str) -> timedelta:
        return self.deadlines.get(channel, DEFAULT_DEADLINE)

    def longest_window(self, provider: str) -> timedelta:
        return max((rate.period for rate in self.rates.get(provider, ())), default=timedelta())


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Wait before retry number ``attempts`` (1-based): 2 s, 4 s, 8 s… capped at 5 minutes, each drawn
    between half and all of it, so a fleet of failures does not retry in lockstep."""
    ceiling = min(2.0 ** min(attempts, 20), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=rng.uniform(ceiling / 2, ceiling))
