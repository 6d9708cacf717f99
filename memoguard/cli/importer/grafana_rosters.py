"""Grafana OnCall's calendar schedules as memoguard rosters: the rules are in ``grafana_oncall``'s
docstring. Apart because a schedule's shifts are the one part of Grafana OnCall with rules of their own
(RFC 5545-like recurrences, priority levels, overrides)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from memoguard.cli.importer.common import SHORT, ImportProblem, Person, Report, shift, week_windows, zone
from memoguard.cli.importer.common import name as unique

UNIT = {"hourly": 3600, "daily": 86400, "weekly": 604800}
BY_DAY = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _local(text: Any, where: str) -> datetime:
    try:
        return datetime.fromisoformat(str(text)).replace(tzinfo=None)
    except ValueError:
        raise ImportProblem(f"{where}: start {text!r} is not yyyy-MM-ddTHH:mm:ss") from None


def _layer(item: dict[str, Any], people: dict[str, Person], report: Report, where: str, taken: set[str]) -> list[str]:
    """One rolling_users or recurrent_event shift as a layer's YAML lines (none when it cannot be one)."""
    title = str(item.get("name") or item.get("id"))
    here = f"{where} / shift {title}"
    frequency = str(item.get("frequency"))
    if frequency not in UNIT:
        report.add(here, f"frequency {frequency}", "left out: memoguard turns are hours, days or weeks")
        return []
    if item.get("type") == "rolling_users":
        groups = [list(g) for g in item.get("rolling_users") or []]
    else:
        groups = [list(item.get("users") or [])]
    members = []
    for group in groups:
        found = [people[u].name for u in group if u in people]
        if len(found) > 1:
            report.add(here, f"a turn of {len(found)} users together ({', '.join(found)})", f"{found[0]} alone")
        if found:
            members.append(found[0])
    if not members:
        report.add(here, "no imported user", "left out")
        return []
    first = int(item.get("start_rotation_from_user_index") or 0) % len(members)
    members = members[first:] + members[:first]
    turn = int(item.get("interval") or 1) * UNIT[frequency]
    start = _local(item.get("start"), here)
    if item.get("rotation_start") and _local(item["rotation_start"], here) != start:
        report.add(here, f"rotation_start {item['rotation_start']} differs from start", "turns counted from start")
    if item.get("until"):
        report.add(here, f"ends on {item['until']}", "the layer has no end: remove it from the roster then")
    duration = int(item.get("duration") or 0)
    days = [BY_DAY.index(d) for d in item.get("by_day") or [] if d in BY_DAY]
    handoff = start.strftime("%H:%M")
    if frequency == "weekly":
        handoff = f"{SHORT[start.weekday()]} {handoff}"
    lines = [
        f"  # From Grafana OnCall shift {title!r} ({item.get('id')}), level {int(item.get('level') or 0)}",
        f"  - name: {unique(title, taken)}",
        f"    members: [{', '.join(members)}]",
        f"    shift: {shift(turn)}",
        f'    handoff: "{handoff}"',
        f"    start: {start.date().isoformat()}",
    ]
    if duration >= turn and (not days or len(set(days)) == 7):
        return lines
    if not days:
        days = list(range(7)) if frequency != "weekly" else [start.weekday()]
    if frequency == "hourly" or (int(item.get("interval") or 1) > 1 and item.get("by_day")):
        report.add(here, f"every {item.get('interval')} {frequency} on {item.get('by_day')}", "active on those days")
    clock = start.hour * 60 + start.minute
    windows = week_windows([(day * 1440 + clock, duration // 60) for day in sorted(set(days))])
    if windows:
        lines.append("    active:")
        lines += [f"      - {w}" for w in windows]
    if len(members) > 1:
        report.add(here, "users rotating in a shift on some days only", f"they take turns every {shift(turn)}")
    return lines


def _override(item: dict[str, Any], people: dict[str, Person], report: Report, where: str, now: datetime) -> str:
    title = str(item.get("name") or item.get("id"))
    tz = zone(str(item.get("time_zone") or "UTC"), where) if item.get("time_zone") else None
    start = _local(item.get("start"), where)
    end = start + timedelta(seconds=int(item.get("duration") or 0))
    users = [people[u].name for u in item.get("users") or [] if u in people]
    local_now = now.astimezone(tz).replace(tzinfo=None) if tz else now.replace(tzinfo=None)
    if end <= local_now:
        report.add(where, f"{item.get('type')} {title!r} ended {end:%Y-%m-%d %H:%M}", "left out (past)")
        return ""
    if not users:
        report.add(where, f"{item.get('type')} {title!r} without an imported user", "left out")
        return ""
    if len(users) > 1:
        report.add(where, f"{item.get('type')} {title!r} for {len(users)} users", f"{users[0]} alone")
    if item.get("type") == "single_event":
        report.add(where, f"single event {title!r} at level {item.get('level')}", "an override (beats every layer)")
    return (
        f'  - {{who: {users[0]}, from: "{start:%Y-%m-%d %H:%M}", to: "{end:%Y-%m-%d %H:%M}"}}'
        f"   # Grafana OnCall {item.get('type')} {title!r} ({item.get('id')})"
    )


def mappable(schedule: dict[str, Any], shifts: dict[str, dict[str, Any]]) -> bool:
    """Whether the schedule's shifts are in the API (calendar schedules, web ones listing theirs)."""
    return schedule.get("type") != "ical" and any(i in shifts for i in schedule.get("shifts") or [])


def rosters(
    schedules: list[dict[str, Any]],
    shifts: dict[str, dict[str, Any]],
    people: dict[str, Person],
    report: Report,
    now: datetime,
) -> dict[str, tuple[str, str]]:
    """(roster name, YAML text) by schedule id."""
    written: dict[str, tuple[str, str]] = {}
    taken: set[str] = set()
    for schedule in schedules:
        sid, title, kind = str(schedule.get("id")), str(schedule.get("name") or ""), schedule.get("type")
        where = f"schedule {title}"
        listed = [shifts[i] for i in schedule.get("shifts") or [] if i in shifts]
        if not mappable(schedule, shifts):
            report.add(
                where,
                f"type {kind}"
                + (f", calendar {schedule.get('ical_url_primary')}" if kind == "ical" else ", no shifts"),
                "no roster written: its shifts are not in the API; write the roster by hand",
            )
            continue
        tz_name = str(schedule.get("time_zone") or "UTC")
        zone(tz_name, f"schedule {title!r}")
        if schedule.get("ical_url_overrides"):
            report.add(where, "overrides from an iCal calendar", "not read: add them as roster overrides")
        layers: list[tuple[int, list[str]]] = []
        overrides: list[str] = []
        layer_names: set[str] = set()
        for item in listed:
            if item.get("time_zone") and item.get("time_zone") != tz_name:
                report.add(where, f"shift {item.get('name')} in {item.get('time_zone')}", f"read in {tz_name}")
            if item.get("type") in ("override", "single_event"):
                if line := _override(item, people, report, where, now):
                    overrides.append(line)
                continue
            if lines := _layer(item, people, report, where, layer_names):
                layers.append((int(item.get("level") or 0), lines))
        if not layers:
            report.add(where, "no shift could be mapped", "no roster written")
            continue
        levels = [level for level, _ in layers]
        if len(set(levels)) < len(levels):
            report.add(
                where,
                "shifts sharing a priority level",
                "where they overlap Grafana OnCall pages all of them, memoguard the one listed last",
            )
        name = unique(title, taken)
        text = [f"# From Grafana OnCall schedule {title!r} ({sid})", f"name: {name}", f"timezone: {tz_name}", "layers:"]
        for _, lines in sorted(layers, key=lambda pair: pair[0]):
            text += lines
        if overrides:
            text += ["overrides:", *overrides]
        written[sid] = (name, "\n".join(text) + "\n")
    return written
