"""Routes: which escalation policy an alarm goes to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Route:
    """Matches when every given criterion matches; no criteria matches everything.

    ``resolve``: whether a "resolved" alarm from the source resolves the incident.
    """

    policy: str
    sources: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    labels: tuple[tuple[str, str], ...] = field(default=())
    resolve: bool = True

    def matches(self, source: str, severity: str, labels: Mapping[str, str]) -> bool:
        if self.sources and source not in self.sources:
            return False
        if self.severities and severity not in self.severities:
            return False
        return all(labels.get(key) == value for key, value in self.labels)


def first_match(routes: Sequence[Route], source: str, severity: str, labels: Mapping[str, str]) -> Route | None:
    """The first route that matches, in configuration order."""
    return next((route for route in routes if route.matches(source, severity, labels)), None)
