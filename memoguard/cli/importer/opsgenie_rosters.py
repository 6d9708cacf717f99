"""Opsgenie's schedules as memoguard rosters: the rules are in ``opsgenie``'s docstring. Apart because
rotations, time restrictions and overrides are the part of Opsgenie with rules of their own."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from memoguard.cli.importer.common import DAYS, SHORT, ImportProblem, Person, Report
from memoguard.cli.importer.common import load_json as _json
from memoguard.cli.importer.common import name as unique

UNIT = {"hourly": "h", "daily": "d", "weekly": "w"}


def load(directory: Path, name: str, required: bool = True) -> list[dict[str, Any]]:
    path = directory / name
    document = _json(path, required)
    if document is None:
        return []
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ImportProblem(f'{path}: expected Opsgenie\'s envelope {{"data": [ … ]}}')
    return data


def user(ref: dict[str, Any], people: dict[str, Person], by_username: dict[str, str]) -> Person | None:
    uid = str(ref.get("id") or by_username.get(str(ref.get("username", "")), ""))
    return people.get(uid)


def _local(instant: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(zone)


def _hm(hour: Any, minute: Any) -> str:
    return f"{int(hour):02d}:{int(minute):02d}"


def _windows(restriction: dict[str, Any]) -> list[str]:
    """Opsgenie's time restriction as memoguard windows (flow mappings)."""
    kind = restriction.get("type")
    if kind == "time-of-day":
        r = restriction["restriction"]
        start, end = _hm(r["startHour"], r["startMin"]), _hm(r["endHour"], r["endMin"])
        return [f'{{from: "{start}", to: "{end}"}}'] if start != end else []
    windows = []
    for r in restriction.get("restrictions", []):
        first, last = DAYS.index(r["startDay"]), DAYS.index(r["endDay"])
        start, end = _hm(r["startHour"], r["startMin"]), _hm(r["endHour"], r["endMin"])
        span = (last - first) % 7
        if span == 0 and end > start:
            windows.append(f'{{days: [{SHORT[first]}], from: "{start}", to: "{end}"}}')
            continue
        if span == 0:
            span = 7
        if span == 1 and end <= start:
            windows.append(f'{{days: [{SHORT[first]}], from: "{start}", to: "{end}"}}' if end != "00:00" else "")
            if end == "00:00":
                windows[-1] = f'{{days: [{SHORT[first]}], from: "{start}"}}'
            continue
        windows.append(
            f'{{days: [{SHORT[first]}], from: "{start}"}}' if start != "00:00" else f"{{days: [{SHORT[first]}]}}"
        )
        middle = [SHORT[(first + i) % 7] for i in range(1, span)]
        if middle:
            windows.append(f"{{days: [{', '.join(middle)}]}}")
        if end != "00:00":
            windows.append(f'{{days: [{SHORT[last]}], to: "{end}"}}')
    return windows


def rosters(  # noqa: PLR0915 (one pass over the schedule, in the order written)
    directory: Path, people: dict[str, Person], by_username: dict[str, str], report: Report, now: datetime
) -> dict[str, tuple[str, str, list[str]]]:
    """Roster YAML text by file name, and the roster's name by schedule id (as (name, text))."""
    written: dict[str, tuple[str, str, list[str]]] = {}
    taken: set[str] = set()
    for schedule in load(directory, "schedules.json"):
        sid, title = str(schedule.get("id", "")), str(schedule.get("name", ""))
        zone_name = str(schedule.get("timezone") or "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ImportProblem(f"schedule {title!r}: unknown time zone {zone_name!r}") from None
        name = unique(title, taken)
        lines = [f"# From Opsgenie schedule {title!r} ({sid})", f"name: {name}", f"timezone: {zone_name}", "layers:"]
        if schedule.get("enabled") is False:
            report.add(f"schedule {title}", "disabled in Opsgenie", "imported all the same; no policy may use it")
        layer_names: set[str] = set()
        layers = []
        for rotation in schedule.get("rotations") or []:
            rtitle = str(rotation.get("name", "rotation"))
            kind = rotation.get("type")
            members = []
            for participant in rotation.get("participants") or []:
                person = user(participant, people, by_username) if participant.get("type") == "user" else None
                if person is None:
                    report.add(
                        f"schedule {title} / rotation {rtitle}",
                        f"participant {participant.get('type')} "
                        + str(participant.get("name") or participant.get("id") or "(a slot where nobody is on call)"),
                        "left out: only users take turns in a memoguard layer (a 'none' slot has no equivalent)",
                    )
                    continue
                members.append(person.name)
            if kind not in UNIT or not members:
                report.add(
                    f"schedule {title} / rotation {rtitle}",
                    f"type {kind!r} or no user participants",
                    "left out",
                )
                continue
            start = _local(str(rotation["startDate"]), zone)
            handoff = start.strftime("%H:%M")
            if kind == "weekly":
                handoff = f"{SHORT[start.weekday()]} {handoff}"
            if rotation.get("endDate"):
                report.add(
                    f"schedule {title} / rotation {rtitle}",
                    f"ends on {rotation['endDate']}",
                    "the layer has no end: remove it from the roster then",
                )
            layer = [
                f"  # From Opsgenie rotation {rtitle!r} ({rotation.get('id', '')})",
                f"  - name: {unique(rtitle, layer_names)}",
                f"    members: [{', '.join(members)}]",
                f"    shift: {int(rotation.get('length', 1))}{UNIT[str(kind)]}",
                f'    handoff: "{handoff}"',
                f"    start: {start.date().isoformat()}",
            ]
            restriction = rotation.get("timeRestriction")
            if restriction:
                windows = [w for w in _windows(restriction) if w]
                if windows:
                    layer.append("    active:")
                    layer += [f"      - {w}" for w in windows]
            layers.append(layer)
        if not layers:
            report.add(f"schedule {title}", "no rotation with users", "no roster written")
            continue
        # Opsgenie pages the on-call user of every rotation at once (cumulative); a memoguard level has one
        # person at a time. So the first rotation is the primary level and each other one a level of its
        # own, which the policies imported with it page together with the primary.
        lines += layers[0]
        extra: list[str] = []
        level_names = {"primary", "secondary"}
        tail: list[str] = []
        for layer in layers[1:]:
            level = unique(layer[1].removeprefix("  - name: "), level_names)
            extra.append(level)
            tail.append(f"  {level}:   # {layer[0].strip().removeprefix('# ')}: paged with the primary")
            tail.append("    layers:")
            tail += ["    " + line for line in layer[1:]]
        overrides = []
        for override in load(directory, f"overrides/{sid}.json", required=False):
            person = user(override.get("user") or {}, people, by_username)
            start, end = (_local(str(override[k]), zone) for k in ("startDate", "endDate"))
            if end <= now:
                report.add(
                    f"schedule {title}",
                    f"override {override.get('alias')} ended {end:%Y-%m-%d %H:%M}",
                    "left out (past)",
                )
                continue
            if person is None or override.get("rotations"):
                report.add(
                    f"schedule {title}",
                    f"override {override.get('alias')} (a non-user or limited to some rotations)",
                    "left out: check the roster around it",
                )
                continue
            overrides.append(
                f'  - {{who: {person.name}, from: "{start:%Y-%m-%d %H:%M}", to: "{end:%Y-%m-%d %H:%M}"}}'
                f"   # Opsgenie override {override.get('alias')}"
            )
        lines += ["levels:", "  secondary: {offset: 1}   # Opsgenie's 'next' on-call of the first rotation", *tail]
        if overrides:
            # An Opsgenie override replaces the on-call user of every rotation: one per level here.
            lines.append("overrides:")
            for entry in overrides:
                lines.append(entry)
                lines += [entry.replace("}", f", level: {level}}}", 1) for level in extra]
        if extra:
            report.add(
                f"schedule {title}",
                f"{len(layers)} rotations, whose on-call users Opsgenie notifies together",
                f"the first is the primary level, the others levels {', '.join(extra)}, paged with it by the "
                "imported policies; 'next' (the secondary level) follows the first rotation only",
            )
        written[sid] = (name, "\n".join(lines) + "\n", extra)
    return written
