"""What the service counts about itself, for /metrics (issue 19): the port, and the gauges read at scrape.

Two kinds of figures, kept apart so a scrape stays cheap:

- *Events* (an alarm received, a page's outcome, an acknowledgement's delay, a timer's lateness, the size of
  an ingest group) are counted in process as they happen, through the ``Metrics`` port; the use cases
  call it after their commit, so a rolled-back decision is not counted. Each instance counts its own:
  Prometheus sums them across instances.
- *States* (incidents open by state, the outbox's depth and oldest row per provider, providers failing)
  are read from the database at scrape time (``read_gauges``), each through an index bounded by what is
  live (``ix_incident_state_id``, ``ix_notification_queue``, the one row per provider of
  ``provider_state``): never from counters that a restart or another instance would make wrong.

The Prometheus implementation is an adapter (``adapters/metrics.py``); ``NO_METRICS`` counts nothing
(CLI commands, tests that do not look).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from memoguard.services.clock import Clock
from memoguard.services.delivery import Delivery
from memoguard.services.record import DIRECT
from memoguard.services.store import Store


class Metrics(Protocol):
    def alarm(self, source: str, outcome: str) -> None:
        """An alarm was stored: ``outcome`` opened, attached, resolved, unrouted…"""

    def group(self, size: int) -> None:
        """An ingest group commit wrote ``size`` alarms in one transaction."""

    def page(self, channel: str, provider: str, outcome: str) -> None:
        """A call for a notification ended: sent, retry, throttled, failed (permanent), undelivered."""

    def acknowledged(self, seconds: float) -> None:
        """An incident was first acknowledged this long after it opened."""

    def timer_late(self, seconds: float) -> None:
        """A timer fired this long after it was due."""

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type."""
        ...


class NoMetrics:
    """Counts nothing."""

    def alarm(self, source: str, outcome: str) -> None:
        pass

    def group(self, size: int) -> None:
        pass

    def page(self, channel: str, provider: str, outcome: str) -> None:
        pass

    def acknowledged(self, seconds: float) -> None:
        pass

    def timer_late(self, seconds: float) -> None:
        pass

    def exposition(self) -> tuple[bytes, str]:
        return b"", "text/plain; version=0.0.4; charset=utf-8"


NO_METRICS = NoMetrics()


@dataclass
class Outbox:
    depth: int = 0  # rows not sent yet: queued, being sent, submitted
    oldest_age: float = 0.0  # seconds since the oldest of them was written


@dataclass(frozen=True)
class Gauges:
    open_incidents: Mapping[str, int]  # by state: triggered, acknowledged, confirmed (0 when none)
    outbox: Mapping[str, Outbox]  # by provider, every configured one included
    provider_up: Mapping[str, bool]  # False: failing past its deadline, throttled, or its link is down
    problems: tuple[str, ...] = field(default=())


OPEN_STATES = ("triggered", "acknowledged", "confirmed")


def read_gauges(store: Store, clock: Clock, delivery: Delivery, providers: Mapping[str, object]) -> Gauges:
    """The states, read now. ``providers``: the configured providers, by name, each asked for its
    ``problem`` (an SMSC link down) if it has one."""
    now = clock.now()
    with store.read() as unit:
        states = unit.open_incident_counts()
        unsent = unit.outbox_depth()
        health = {s.name: s for s in unit.provider_states()}
    outbox = {name: Outbox() for name in providers}
    for row in unsent:
        if row.purpose in DIRECT:
            name = row.channel
        else:
            names = delivery.channels.get(row.channel, ())
            name = names[min(row.provider_index, len(names) - 1)] if names else row.channel
        entry = outbox.setdefault(name, Outbox())
        entry.depth += row.count
        entry.oldest_age = max(entry.oldest_age, (now - row.oldest).total_seconds())
    up = {}
    for name, provider in providers.items():
        state = health.get(name)
        failing = state is not None and state.failing_since is not None
        blocked = state is not None and state.blocked_until is not None and state.blocked_until > now
        link = getattr(provider, "problem", None)
        up[name] = not (failing or blocked or (isinstance(link, str) and bool(link)))
    return Gauges({s: states.get(s, 0) for s in OPEN_STATES}, outbox, up)
