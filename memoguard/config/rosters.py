"""Rosters from their YAML models: layers, levels and overrides, checked against the people."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from memoguard.config.document import Document, Location
from memoguard.config.findings import Findings, unknown
from memoguard.config.holiday import CountryHolidays
from memoguard.config.schema import LayerModel, MainModel, OverrideModel, RosterModel, WindowModel
from memoguard.domain.errors import DomainError
from memoguard.domain.roster import Layer, Level, Override, Roster, Window
from memoguard.domain.walltime import parse_handoff, parse_local_datetime, parse_time_of_day


def build_roster(
    found: Findings, model: RosterModel, document: Document, main: MainModel, default: ZoneInfo
) -> Roster | None:
    """The roster, or None when it has problems (all of them added to ``found``); ``default`` is the zone
    of a roster that names none."""
    errors_before = len(found.problems)
    zone = found.zone(model.timezone, document, ("timezone",)) if model.timezone else default
    zone = zone or default
    layers = _layers(found, model.layers, ("layers",), document, main)
    levels = []
    for name, level in model.levels.items():
        if name == "primary":
            found.add(document, ("levels", name), "'primary' is the roster's own layers and cannot be redefined")
            continue
        own = None
        if level.layers is not None:
            own = _layers(found, level.layers, ("levels", name, "layers"), document, main)
        levels.append(Level(name, offset=level.offset or 0, layers=None if own is None else tuple(own)))
    level_names = {"primary", *model.levels}
    overrides = [
        override
        for index, item in enumerate(model.overrides)
        if (override := _override(found, item, ("overrides", index), document, main, zone, level_names, model.name))
    ]
    if len(found.problems) > errors_before:
        return None
    return Roster(model.name, zone, tuple(layers), tuple(levels), tuple(overrides))


def _override(
    found: Findings,
    item: OverrideModel,
    here: Location,
    document: Document,
    main: MainModel,
    zone: tzinfo,
    level_names: set[str],
    roster: str,
) -> Override | None:
    found.refer(document, (*here, "who"), "person", item.who, main.people)
    if item.level not in level_names:
        if not found.level_broken(roster, item.level):
            found.add(document, (*here, "level"), unknown("level", item.level, level_names))
        return None
    start = found.attempt(document, (*here, "from"), lambda: parse_local_datetime(item.from_, zone))
    end = found.attempt(document, (*here, "to"), lambda: parse_local_datetime(item.to, zone))
    if start is None or end is None:
        return None
    ref = f"{document.file}:{document.line(here)}"
    return found.attempt(document, (*here, "to"), lambda: Override(item.who, start, end, item.level, ref))


def _layers(
    found: Findings, models: list[LayerModel], base: Location, document: Document, main: MainModel
) -> list[Layer]:
    layers = []
    for index, model in enumerate(models):
        here: Location = (*base, index)
        for position, member in enumerate(model.members):
            found.refer(document, (*here, "members", position), "person", member, main.people)
        weekday, at = parse_handoff(model.handoff)
        if weekday is not None and model.start.weekday() != weekday:
            day_name = model.start.strftime("%A").lower()
            found.add(
                document,
                (*here, "start"),
                f"{model.start.isoformat()} is a {day_name}, not the weekday of handoff {model.handoff!r}",
            )
            continue
        windows = [
            window
            for position, item in enumerate(model.active)
            if (window := _window(found, item, (*here, "active", position), document)) is not None
        ]
        anchor = datetime.combine(model.start, at)
        try:
            layer = Layer(model.name, tuple(model.members), model.shift, anchor, tuple(windows))
        except DomainError as error:
            found.add(document, here, str(error))
        else:
            layers.append(layer)
    names = [model.name for model in models]
    for index, name in enumerate(names):
        if name in names[:index]:
            found.add(document, (*base, index, "name"), f"duplicate layer name {name!r}")
    return layers


def _window(found: Findings, model: WindowModel, here: Location, document: Document) -> Window | None:
    if model.holidays is not None:
        calendar = found.attempt(document, (*here, "holidays"), lambda: CountryHolidays(str(model.holidays)))
        return Window(holidays=calendar) if calendar else None
    return Window(
        days=frozenset(model.days) if model.days is not None else None,
        start=parse_time_of_day(model.from_) if model.from_ else None,
        end=parse_time_of_day(model.to) if model.to else None,
    )
