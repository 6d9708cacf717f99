"""``--compare DAYS``: who is on call by the source tool, against who memoguard's roster code puts on call
from the YAML just written, at every change point of either side. A team switches when the list is empty.

The source's side comes as on-call entries ``(start, end, person)``: Grafana OnCall's final shifts and
PagerDuty's final schedule are the tools' own rendering (read from their API or from the saved files), so
nothing of the importer's reading of their rules is in that side. Opsgenie has no such rendering in its
API: its importer evaluates the saved rotations itself and gives the same entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from memoguard.domain.roster import Roster


@dataclass(frozen=True)
class Entry:
    start: datetime
    end: datetime
    person: str  # the memoguard name, or "?<source id>" for someone who was not imported


def disagreements(
    roster: Roster, levels: Sequence[str], entries: Sequence[Entry], start: datetime, end: datetime, vendor: str
) -> list[str]:
    """Each change point in [start, end) where the entries and the roster's ``levels`` (all paged
    together) name different people."""
    points = {start}
    points.update(p for e in entries for p in (e.start, e.end) if start <= p < end)
    points.update(seg.start for level in levels for seg in roster.segments(start, end, level) if seg.start >= start)
    lines = []
    for at in sorted(points):
        theirs = {e.person for e in entries if e.start <= at < e.end}
        ours = {a.person for level in levels if (a := roster.oncall(at, level)) is not None}
        if theirs != ours:
            local = at.astimezone(roster.timezone)
            lines.append(
                f"{roster.name} {local:%a %Y-%m-%d %H:%M %Z}: {vendor} {sorted(theirs) or ['nobody']}, "
                f"memoguard {sorted(ours) or ['nobody']}"
            )
    return lines
