"""Who a step (or the crisis cell) pages: targets resolved against the incident's roster copies.

``roster:NAME[/LEVEL]`` is whoever the incident's copy of that roster has on call at that level at the
given instant; ``person:NAME`` is that person. People are deduplicated in target order, and people who
already acknowledged in the current ack stage are left out (they are not paged again). A roster with
nobody on call is a ``gap`` and a target that cannot be resolved at all (a roster or level the
incident has no copy of) is ``unresolvable``: both come back as timeline records, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from memoguard.domain.effect import Record
from memoguard.domain.incident import Incident
from memoguard.domain.policy import Target, TargetKind


@dataclass(frozen=True)
class Callout:
    """The outcome of resolving who to page: ``people`` in order, ``already_acked`` (on call but not
    paged again) and ``problems`` (gap and unresolvable records for the timeline)."""

    people: tuple[str, ...]
    already_acked: tuple[str, ...] = ()
    problems: tuple[Record, ...] = ()


def step_callout(incident: Incident, index: int, now: datetime) -> Callout:
    """Who step ``index`` of the incident's policy pages at ``now``."""
    found: list[str] = []
    problems: list[Record] = []
    for target in incident.policy.steps[index].targets:
        person, problem = _resolve(incident, target, index, now)
        if person is not None:
            found.append(person)
        if problem is not None:
            problems.append(problem)
    return _callout(incident, found, problems)


def crisis_callout(incident: Incident) -> Callout:
    """Which crisis cell members to page (none if the policy has no crisis cell)."""
    cell = incident.policy.crisis_cell
    return _callout(incident, list(cell.members) if cell else [], [])


def _resolve(inc: Incident, target: Target, index: int, now: datetime) -> tuple[str | None, Record | None]:
    if target.kind == TargetKind.PERSON:
        return target.name, None
    try:
        assignment = inc.roster(target.name).oncall(now, target.level)
    except LookupError as error:  # no copy of the roster, or an unknown level (UnknownLevelError)
        text = f"Step {index + 1}: target {target} cannot be resolved: {error}"
        return None, Record("unresolvable", text)
    if assignment is None:
        text = f"Gap at step {index + 1}: nobody on call for roster {target.name!r} at level {target.level!r}"
        return None, Record("gap", text)
    return assignment.person, None


def _callout(incident: Incident, found: list[str], problems: list[Record]) -> Callout:
    unique = tuple(dict.fromkeys(found))
    people = tuple(p for p in unique if p not in incident.acked_by)
    acked = tuple(p for p in unique if p in incident.acked_by)
    return Callout(people, acked, tuple(problems))
