"""The loaded configuration: domain objects plus the settings the services and adapters need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from memoguard.config.schema import HttpModel, LoggingModel, MetricsModel, ProviderModel, SourceModel, StormModel
from memoguard.domain.person import Person
from memoguard.domain.policy import Policy
from memoguard.domain.roster import Roster
from memoguard.domain.route import Route
from memoguard.domain.selftest import SelfTest
from memoguard.domain.silence import Silence

# The synthetic alarm a missed heartbeat raises (services/deadman.py): its severity and labels are what
# routes and silences see, so the loader checks that a route takes it (loader._check_heartbeats_routed).
HEARTBEAT_SEVERITY = "critical"
HEARTBEAT_ALERTNAME = "HeartbeatMissed"


def heartbeat_labels(name: str) -> dict[str, str]:
    """The labels of heartbeat ``name``'s miss alarm."""
    return {"heartbeat": name, "alertname": HEARTBEAT_ALERTNAME}


@dataclass(frozen=True)
class Config:
    directory: Path
    timezone: ZoneInfo
    database_url: str
    http: HttpModel
    people: Mapping[str, Person]
    rosters: Mapping[str, Roster]
    policies: Mapping[str, Policy]
    routes: tuple[Route, ...]
    sources: Mapping[str, SourceModel]
    channels: Mapping[str, tuple[str, ...]]  # each channel's providers, in failover order
    deadlines: Mapping[str, timedelta]  # per channel: how long one provider's transient failures are retried
    providers: Mapping[str, ProviderModel]
    storm: StormModel
    phone_region: str | None = None  # how national numbers (in replies too) are read
    # Where each (roster, level) is defined, as (file, line, path): for warnings about a level.
    levels_at: Mapping[tuple[str, str], tuple[str, int, str]] = field(default_factory=dict)
    silences: tuple[Silence, ...] = ()  # the recurring maintenance windows of memoguard.yaml

    def heartbeats(self) -> dict[str, tuple[timedelta, timedelta]]:
        """Each source declaring a heartbeat: (its period, its grace)."""
        return {
            name: (source.heartbeat, source.grace or timedelta())
            for name, source in self.sources.items()
            if source.heartbeat is not None
        }

    metrics: MetricsModel = field(default_factory=MetricsModel)
    logging: LoggingModel = field(default_factory=LoggingModel)
    self_test: SelfTest | None = None  # the scheduled test page (issue 19), when memoguard.yaml has one
    # SHA-256 of the files loaded (names and bytes): /readyz and /metrics show it, so an operator sees
    # which configuration each instance runs (config/loader.py).
    digest: str = ""

    def roster(self, name: str) -> Roster:
        """The roster called ``name``; LookupError names the ones that exist."""
        try:
            return self.rosters[name]
        except KeyError:
            known = ", ".join(sorted(self.rosters)) or "none"
            raise LookupError(f"unknown roster {name!r} (rosters: {known})") from None

    def policy(self, name: str) -> Policy:
        """The policy called ``name``; LookupError names the ones that exist."""
        try:
            return self.policies[name]
        except KeyError:
            known = ", ".join(sorted(self.policies)) or "none"
            raise LookupError(f"unknown policy {name!r} (policies: {known})") from None
