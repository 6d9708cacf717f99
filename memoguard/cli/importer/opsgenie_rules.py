"""Opsgenie's rules, read again on their own for ``--compare``: Opsgenie's API has no "who is on call over
this window" rendering for a period, so the importer evaluates the saved rotations itself, from their
definitions (not from the windows it wrote): every rotation's on-call user is notified (cumulative),
restrictions are weekly intervals, an override replaces the user of the rotations it names. Both sides
count shifts in wall-clock time in the schedule's zone: that Opsgenie does so across DST is an assumption
(its documentation calls the start time the hand-over time), which a team checks against Opsgenie's own
calendar for the week of a change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from memoguard import bootstrap
from memoguard.cli.importer.common import DAYS, origin

UNIT = {"hourly": "h", "daily": "d", "weekly": "w"}
Load = Callable[[Path, str, bool], list[dict[str, Any]]]


def _local(instant: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(zone)


def _week_minute(local: datetime) -> int:
    return local.weekday() * 1440 + local.hour * 60 + local.minute


def _restricted_in(restriction: dict[str, Any] | None, local: datetime) -> bool:
    """Whether ``local`` is inside Opsgenie's time restriction (read from its definition, not from _windows)."""
    if not restriction:
        return True
    if restriction.get("type") == "time-of-day":
        r = restriction["restriction"]
        start, end = int(r["startHour"]) * 60 + int(r["startMin"]), int(r["endHour"]) * 60 + int(r["endMin"])
        now = local.hour * 60 + local.minute
        return start <= now < end if start < end else (now >= start or now < end)
    now = _week_minute(local)
    for r in restriction.get("restrictions", []):
        start = DAYS.index(r["startDay"]) * 1440 + int(r["startHour"]) * 60 + int(r["startMin"])
        end = DAYS.index(r["endDay"]) * 1440 + int(r["endHour"]) * 60 + int(r["endMin"])
        if (start <= now < end) if start < end else (now >= start or now < end):
            return True
    return False


def _opsgenie_oncall(
    schedule: dict[str, Any], overrides: list[dict[str, Any]], at: datetime, names: dict[str, str]
) -> set[str]:
    """Who Opsgenie notifies at ``at`` for this schedule: the on-call user of every rotation (cumulative),
    an override replacing the user of the rotations it names (all of them when it names none)."""
    zone = ZoneInfo(str(schedule.get("timezone") or "UTC"))
    local = at.astimezone(zone)
    covering = [o for o in overrides if _local(str(o["startDate"]), zone) <= local < _local(str(o["endDate"]), zone)]
    found: set[str] = set()
    for rotation in schedule.get("rotations") or []:
        replaced = [
            o
            for o in covering
            if not o.get("rotations") or rotation.get("id") in {r.get("id") for r in o.get("rotations") or []}
        ]
        start = _local(str(rotation["startDate"]), zone)
        end = _local(str(rotation["endDate"]), zone) if rotation.get("endDate") else None
        if local < start or (end is not None and local >= end) or rotation.get("type") not in UNIT:
            continue
        if replaced:
            user = replaced[-1].get("user") or {}
            found.add(names.get(str(user.get("id") or user.get("username")), "?"))
            continue
        if not _restricted_in(rotation.get("timeRestriction"), local):
            continue
        unit = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
        shift = unit[str(rotation["type"])] * int(rotation.get("length", 1))
        index = int((local.replace(tzinfo=None) - start.replace(tzinfo=None)) / shift)
        participants = rotation.get("participants") or []
        if not participants:
            continue
        participant = participants[index % len(participants)]
        if participant.get("type") == "user":
            found.add(names.get(str(participant.get("id") or participant.get("username")), "?"))
    return found


def _instants(
    schedule: dict[str, Any], overrides: list[dict[str, Any]], start: datetime, end: datetime
) -> list[datetime]:
    """Every hand-off of the schedule in [start, end): each rotation's shift changes, the edges of its
    restriction (on the quarter hour: Opsgenie's restrictions are in minutes), the overrides' ends."""
    zone = ZoneInfo(str(schedule.get("timezone") or "UTC"))
    found = {start}
    for override in overrides:
        found.update(_local(str(override[k]), zone) for k in ("startDate", "endDate"))
    for rotation in schedule.get("rotations") or []:
        if rotation.get("type") not in UNIT:
            continue
        first = _local(str(rotation["startDate"]), zone).replace(tzinfo=None)
        unit = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
        shift = unit[str(rotation["type"])] * int(rotation.get("length", 1))
        local = start.astimezone(zone).replace(tzinfo=None)
        index = max(0, int((local - first) / shift))
        while (handoff := first + index * shift) < end.astimezone(zone).replace(tzinfo=None):
            found.add(handoff.replace(tzinfo=zone))
            index += 1
        restriction = rotation.get("timeRestriction") or {}
        edges = []
        if restriction.get("type") == "time-of-day":
            r = restriction["restriction"]
            edges = [(None, r["startHour"], r["startMin"]), (None, r["endHour"], r["endMin"])]
        for r in restriction.get("restrictions", []):
            edges += [(r["startDay"], r["startHour"], r["startMin"]), (r["endDay"], r["endHour"], r["endMin"])]
        day = local.date()
        while day <= end.astimezone(zone).date():
            for weekday, hour, minute in edges:
                if weekday is None or DAYS.index(weekday) == day.weekday():
                    found.add(datetime(day.year, day.month, day.day, int(hour), int(minute), tzinfo=zone))
            day += timedelta(days=1)
    return sorted(t.astimezone(UTC) for t in found if start <= t < end)


def compare(
    directory: Path, output: Path, start: datetime, end: datetime, names: dict[str, str], load: Load
) -> list[str]:
    """Every hand-off in [start, end) where the written rosters page other people than Opsgenie."""
    config = bootstrap.load(output)
    lines = []
    for schedule in load(directory, "schedules.json", True):
        title = str(schedule.get("name"))
        roster = next((r for r in config.rosters.values() if f"({schedule.get('id')})" in origin(output, r.name)), None)
        if roster is None:
            lines.append(f"schedule {title!r}: no roster was written for it")
            continue
        overrides = load(directory, f"overrides/{schedule.get('id')}.json", False)
        levels = [level for level in roster.level_names if level != "secondary"]
        # Both sides' change points: Opsgenie's hand-offs, and where the written roster changes hands.
        ours_edges = {seg.start for level in levels for seg in roster.segments(start, end, level)}
        for at in sorted(set(_instants(schedule, overrides, start, end)) | ours_edges):
            theirs = _opsgenie_oncall(schedule, overrides, at, names)
            ours = {a.person for level in levels if (a := roster.oncall(at, level)) is not None}
            if theirs != ours:
                local = at.astimezone(roster.timezone)
                lines.append(
                    f"{roster.name} {local:%a %Y-%m-%d %H:%M %Z}: Opsgenie {sorted(theirs) or ['nobody']}, "
                    f"memoguard {sorted(ours) or ['nobody']}"
                )
    return lines
