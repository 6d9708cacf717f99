"""The policy and rosters copied onto an incident when it opens, as JSON.

The copy is what keeps an escalation in flight unchanged when the YAML is edited, so it must read back
exactly as written, whatever the configuration says today. ``FORMAT`` is bumped with any change to the
shape, and old shapes keep being readable (format 1 had no ``notices`` and ``outbound``).
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from memoguard.config.holiday import CountryHolidays
from memoguard.domain.policy import AckMode, AckRule, CrisisCell, Policy, Step, Target
from memoguard.domain.roster import Layer, Level, Override, Roster, Window

FORMAT = 2
READABLE = (1, 2)


def dump(policy: Policy, rosters: tuple[Roster, ...]) -> str:
    return json.dumps(
        {"format": FORMAT, "policy": _policy(policy), "rosters": [_roster(r) for r in rosters]},
        separators=(",", ":"),
        sort_keys=True,
    )


def load(text: str) -> tuple[Policy, tuple[Roster, ...]]:
    data = json.loads(text)
    if data.get("format") not in READABLE:
        raise ValueError(f"incident snapshot format {data.get('format')!r} is not readable by this release")
    return _read_policy(data["policy"]), tuple(_read_roster(r) for r in data["rosters"])


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _delta(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _policy(policy: Policy) -> dict[str, Any]:
    cell = policy.crisis_cell
    return {
        "name": policy.name,
        "steps": [
            {"targets": [str(t) for t in s.targets], "channels": list(s.channels), "ack_within": _seconds(s.ack_within)}
            for s in policy.steps
        ],
        "ack": {
            "mode": policy.ack.mode.value,
            "confirm_within": _seconds(policy.ack.confirm_within),
            "quorum": policy.ack.quorum,
            "reack_after": _seconds(policy.ack.reack_after),
        },
        "repeat": policy.repeat,
        "crisis_cell": None
        if cell is None
        else {
            "members": list(cell.members),
            "channels": list(cell.channels),
            "quorum": cell.quorum,
            "bridge": cell.bridge,
            "repeat_every": _seconds(cell.repeat_every),
        },
        "notices": sorted(policy.notices),
        "outbound": list(policy.outbound),
    }


def _read_policy(data: dict[str, Any]) -> Policy:
    ack = data["ack"]
    cell = data["crisis_cell"]
    return Policy(
        name=data["name"],
        steps=tuple(
            Step(
                targets=tuple(Target.parse(t) for t in s["targets"]),
                channels=tuple(s["channels"]),
                ack_within=timedelta(seconds=s["ack_within"]),
            )
            for s in data["steps"]
        ),
        ack=AckRule(
            mode=AckMode(ack["mode"]),
            confirm_within=_delta(ack["confirm_within"]),
            quorum=ack["quorum"],
            reack_after=_delta(ack["reack_after"]),
        ),
        repeat=data["repeat"],
        crisis_cell=None
        if cell is None
        else CrisisCell(
            members=tuple(cell["members"]),
            channels=tuple(cell["channels"]),
            quorum=cell["quorum"],
            bridge=cell["bridge"],
            repeat_every=_delta(cell["repeat_every"]),
        ),
        notices=frozenset(data.get("notices", ())),
        outbound=tuple(data.get("outbound", ())),
    )


def _zone_name(zone: tzinfo) -> str:
    if isinstance(zone, ZoneInfo):
        return zone.key
    name = zone.tzname(None)
    if name == "UTC":
        return "UTC"
    raise ValueError(f"time zone {zone!r} has no IANA name and cannot be copied onto an incident")


def _clock(value: time | None) -> str | None:
    return None if value is None else value.isoformat()


def _layer(layer: Layer) -> dict[str, Any]:
    return {
        "name": layer.name,
        "members": list(layer.members),
        "shift": _seconds(layer.shift),
        "anchor": layer.anchor.isoformat(),
        "windows": [
            {
                "days": None if w.days is None else sorted(w.days),
                "start": _clock(w.start),
                "end": _clock(w.end),
                "holidays": None if w.holidays is None else w.holidays.code,
            }
            for w in layer.windows
        ],
    }


def _read_layer(data: dict[str, Any]) -> Layer:
    return Layer(
        name=data["name"],
        members=tuple(data["members"]),
        shift=timedelta(seconds=data["shift"]),
        anchor=datetime.fromisoformat(data["anchor"]),
        windows=tuple(
            Window(
                days=None if w["days"] is None else frozenset(w["days"]),
                start=None if w["start"] is None else time.fromisoformat(w["start"]),
                end=None if w["end"] is None else time.fromisoformat(w["end"]),
                holidays=None if w["holidays"] is None else CountryHolidays(w["holidays"]),
            )
            for w in data["windows"]
        ),
    )


def _roster(roster: Roster) -> dict[str, Any]:
    return {
        "name": roster.name,
        "timezone": _zone_name(roster.timezone),
        "layers": [_layer(layer) for layer in roster.layers],
        "levels": [
            {
                "name": level.name,
                "offset": level.offset,
                "layers": None if level.layers is None else [_layer(layer) for layer in level.layers],
            }
            for level in roster.levels
        ],
        "overrides": [
            {"who": o.who, "start": o.start.isoformat(), "end": o.end.isoformat(), "level": o.level, "ref": o.ref}
            for o in roster.overrides
        ],
    }


def _read_roster(data: dict[str, Any]) -> Roster:
    return Roster(
        name=data["name"],
        timezone=ZoneInfo(data["timezone"]),
        layers=tuple(_read_layer(layer) for layer in data["layers"]),
        levels=tuple(
            Level(
                name=level["name"],
                offset=level["offset"],
                layers=None if level["layers"] is None else tuple(_read_layer(x) for x in level["layers"]),
            )
            for level in data["levels"]
        ),
        overrides=tuple(
            Override(
                who=o["who"],
                start=datetime.fromisoformat(o["start"]),
                end=datetime.fromisoformat(o["end"]),
                level=o["level"],
                ref=o["ref"],
            )
            for o in data["overrides"]
        ),
    )
