"""PagerDuty's schedules as memoguard rosters: the rules are in ``pagerduty``'s docstring. Apart because
layers, restrictions and overrides are the part of PagerDuty with rules of their own."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from memoguard.cli.importer.common import SHORT, Person, Report, hm, instant, shift, week_windows, zone
from memoguard.cli.importer.common import name as unique


def _minutes(text: Any) -> int:
    hour, minute, *_ = (int(part) for part in str(text or "00:00").split(":"))
    return hour * 60 + minute


def _windows(restrictions: list[dict[str, Any]], report: Report, where: str) -> list[str]:
    windows: list[str] = []
    spans: list[tuple[int, int]] = []
    for r in restrictions:
        start, length = _minutes(r.get("start_time_of_day")), int(r.get("duration_seconds") or 0) // 60
        if r.get("type") == "daily_restriction":
            if length >= 1440:
                continue
            windows.append(f'{{from: "{hm(start)}", to: "{hm(start + length)}"}}')
        elif r.get("type") == "weekly_restriction":
            spans.append(((int(r.get("start_day_of_week") or 1) - 1) * 1440 + start, length))
        else:
            report.add(where, f"restriction {r.get('type')}", "left out: the layer is always active")
    return windows + week_windows(spans)


def _layer(
    layer: dict[str, Any],
    tz: Any,
    people: dict[str, Person],
    report: Report,
    where: str,
    taken: set[str],
    now: datetime,
) -> list[str]:
    title = str(layer.get("name") or layer.get("id"))
    here = f"{where} / layer {title}"
    if layer.get("end") and instant(layer["end"], here) <= now:
        report.add(here, f"ended {layer['end']}", "left out (past)")
        return []
    if layer.get("end"):
        report.add(here, f"ends on {layer['end']}", "the layer has no end: remove it from the roster then")
    members = []
    for entry in layer.get("users") or []:
        user = entry.get("user") or {}
        if str(user.get("id")) in people:
            members.append(people[str(user.get("id"))].name)
        else:
            report.add(here, f"user {user.get('summary') or user.get('id')}", "left out (not imported)")
    if not members:
        report.add(here, "no imported user", "left out")
        return []
    turn = int(layer.get("rotation_turn_length_seconds") or 0)
    if turn < 3600:
        report.add(here, f"turns of {turn} s", "left out: memoguard shifts last at least an hour")
        return []
    virtual = instant(layer.get("rotation_virtual_start") or layer.get("start"), here).astimezone(tz)
    begins = instant(layer.get("start") or layer.get("rotation_virtual_start"), here)
    if begins > now:
        report.add(
            here,
            f"starts on {layer.get('start')}",
            f"active from its first turn, {virtual:%Y-%m-%d %H:%M}: check the roster before then",
        )
    handoff = virtual.strftime("%H:%M")
    if turn % 604800 == 0:
        handoff = f"{SHORT[virtual.weekday()]} {handoff}"
    lines = [
        f"  # From PagerDuty layer {title!r} ({layer.get('id')})",
        f"  - name: {unique(title, taken)}",
        f"    members: [{', '.join(members)}]",
        f"    shift: {shift(turn)}",
        f'    handoff: "{handoff}"',
        f"    start: {virtual.date().isoformat()}",
    ]
    windows = _windows(layer.get("restrictions") or [], report, here)
    if windows:
        lines.append("    active:")
        lines += [f"      - {w}" for w in windows]
    return lines


def rosters(
    schedules: list[dict[str, Any]],
    overrides: dict[str, list[dict[str, Any]]],
    people: dict[str, Person],
    report: Report,
    now: datetime,
) -> dict[str, tuple[str, str]]:
    """(roster name, YAML text) by schedule id."""
    written: dict[str, tuple[str, str]] = {}
    taken: set[str] = set()
    for schedule in schedules:
        sid, title = str(schedule.get("id")), str(schedule.get("name") or "")
        where = f"schedule {title}"
        tz_name = str(schedule.get("time_zone") or "UTC")
        tz = zone(tz_name, f"schedule {title!r}")
        layer_names: set[str] = set()
        # A GET answers the highest layer first; memoguard's later layers win: lowest first here.
        layers = [
            lines
            for layer in reversed(schedule.get("schedule_layers") or [])
            if (lines := _layer(layer, tz, people, report, where, layer_names, now))
        ]
        if not layers:
            report.add(where, "no layer could be mapped", "no roster written")
            continue
        name = unique(title, taken)
        text = [f"# From PagerDuty schedule {title!r} ({sid})", f"name: {name}", f"timezone: {tz_name}", "layers:"]
        for lines in layers:
            text += lines
        entries = []
        for override in overrides.get(sid, []):
            user = override.get("user") or {}
            start = instant(override.get("start"), where).astimezone(tz)
            end = instant(override.get("end"), where).astimezone(tz)
            if end <= now:
                report.add(where, f"override {override.get('id')} ended {end:%Y-%m-%d %H:%M}", "left out (past)")
                continue
            if str(user.get("id")) not in people:
                report.add(where, f"override {override.get('id')} for {user.get('summary')}", "left out (not imported)")
                continue
            who = people[str(user.get("id"))].name
            entries.append(
                f'  - {{who: {who}, from: "{start:%Y-%m-%d %H:%M}", to: "{end:%Y-%m-%d %H:%M}"}}'
                f"   # PagerDuty override {override.get('id')}"
            )
        if entries:
            text += ["overrides:", *entries]
        written[sid] = (name, "\n".join(text) + "\n")
    return written
