"""Loading a configuration directory: memoguard.yaml, rosters/*.yaml, escalation_policies/*.yaml.

Every problem is collected, with its file and line, before anything is refused: an operator fixing a
broken config at night wants the whole list at once, not one error per run. So a file that fails its
schema is still checked for what is left of it (see salvage.py), a file that is not YAML at all does not
stop the others being checked, and a reference to something whose own definition is broken or could
not be read is not reported a second time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, ValidationError

from memoguard.config.document import Document, Location, format_location, read_document
from memoguard.config.holiday import CountryHolidays
from memoguard.config.model import Config
from memoguard.config.problem import ConfigError, Problem
from memoguard.config.salvage import salvage
from memoguard.config.schema import (
    CrisisModel,
    LayerModel,
    MainModel,
    OverrideModel,
    PolicyModel,
    RosterModel,
    StepModel,
    WindowModel,
)
from memoguard.config.tokens import shared_tokens
from memoguard.config.translation import translate
from memoguard.domain.errors import DomainError
from memoguard.domain.person import Person
from memoguard.domain.policy import AckMode, AckRule, CrisisCell, Policy, Step, TargetKind
from memoguard.domain.roster import Layer, Level, Override, Roster, Window
from memoguard.domain.route import Route
from memoguard.domain.walltime import parse_handoff, parse_local_datetime, parse_time_of_day

MAIN_FILE = "memoguard.yaml"
ROSTER_DIR = "rosters"
POLICY_DIR = "escalation_policies"

ModelT = TypeVar("ModelT", bound=BaseModel)
ResultT = TypeVar("ResultT")


def load_config(directory: Path) -> Config:
    """Load and cross-check a configuration directory; raise ConfigError listing every problem."""
    return _Loader(directory).load()


class _Loader:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.problems: list[Problem] = []
        # (kind, name) of what is defined but broken (a roster or policy whose file failed, a person or
        # provider cut from memoguard.yaml by its schema, a roster's level as "roster/level"): references
        # to them are not reported again as unknown, the operator already has the real problem in front
        # of them.
        self.broken: set[tuple[str, str]] = set()
        # Kinds of names nothing can be said about: memoguard.yaml could not be read at all.
        self.unknowable: set[str] = set()
        self.levels_at: dict[tuple[str, str], tuple[str, int, str]] = {}

    def load(self) -> Config:
        main_path = self.directory / MAIN_FILE
        if not main_path.is_file():
            raise ConfigError(
                [Problem(str(main_path), 0, "", "file not found: not a memoguard configuration directory")]
            )
        parsed = self._parse(main_path, MainModel, "main")
        rosters: list[tuple[RosterModel, Document]] = []
        for path in self._files(ROSTER_DIR):
            if roster := self._parse(path, RosterModel, "roster"):
                rosters.append(roster)
        policies: list[tuple[PolicyModel, Document]] = []
        for path in self._files(POLICY_DIR):
            if policy := self._parse(path, PolicyModel, "policy"):
                policies.append(policy)
        if parsed is None:
            # Rosters and policies are still checked, among themselves: who, which channel and which
            # provider they name cannot be known.
            self.unknowable = {"person", "channel", "provider", "source"}
            main = MainModel.model_construct(people={})
            zone = ZoneInfo("UTC")
            people: dict[str, Person] = {}
        else:
            main, doc = parsed
            zone = self._zone(main.timezone, doc, ("timezone",)) or ZoneInfo("UTC")
            people = self._people(main, doc)
            self._check_channels(main, doc)
            self._check_tokens(main, doc)
        roster_map = self._unique(rosters, "roster", lambda model, d: self._roster(model, d, main, zone))
        policy_map = self._unique(policies, "policy", lambda model, d: self._policy(model, d, main, roster_map))
        if parsed is None:
            raise ConfigError(self.problems)
        routes = self._routes(main, doc, policy_map)
        if self.problems:
            raise ConfigError(self.problems)
        return Config(
            directory=self.directory,
            timezone=zone,
            database_url=self._database(main.database),
            http=main.http,
            people=people,
            rosters=roster_map,
            policies=policy_map,
            routes=routes,
            sources=dict(main.sources),
            channels={name: tuple(channel.providers) for name, channel in main.channels.items()},
            deadlines={name: channel.deadline for name, channel in main.channels.items()},
            providers=dict(main.providers),
            storm=main.storm,
            phone_region=main.phone_region,
            levels_at=self.levels_at,
        )

    # --- files ---------------------------------------------------------------------------------

    def _files(self, folder: str) -> list[Path]:
        base = self.directory / folder
        return sorted(p for p in base.glob("*") if p.suffix in (".yaml", ".yml") and p.is_file())

    def _parse(self, path: Path, model: type[ModelT], what: str) -> tuple[ModelT, Document] | None:
        document, problems = read_document(path, str(path))
        self.problems.extend(problems)
        if document is None or problems:
            return None
        if not isinstance(document.data, dict):
            self.problems.append(Problem(document.file, 1, "", "expected a mapping of keys to values at the top"))
            return None
        try:
            return model.model_validate(document.data), document
        except ValidationError as error:
            self.problems.extend(translate(error, document, model))
        left = salvage(model, document)
        if left is None:
            name = document.data.get("name")
            if isinstance(name, str):
                self.broken.add((what, name))
            return None
        self._cut(what, document.data, left.removed)
        return left.model, left.document

    def _cut(self, what: str, data: dict[str, Any], removed: tuple[Location, ...]) -> None:
        """Record as broken the definitions that salvaging a file cut out of it."""
        kinds = {"people": "person", "channels": "channel", "providers": "provider", "sources": "source"}
        for location in removed:
            if what == "main" and location[0] in kinds:
                kind = kinds[str(location[0])]
                if len(location) == 1:
                    self.unknowable.add(kind)
                elif len(location) == 2:
                    self.broken.add((kind, str(location[1])))
            elif what == "roster" and location[0] == "levels" and len(location) <= 2:
                level = str(location[1]) if len(location) == 2 else "*"
                self.broken.add(("level", f"{data.get('name')}/{level}"))

    def _unique(
        self,
        parsed: list[tuple[ModelT, Document]],
        what: str,
        build: Callable[[ModelT, Document], ResultT | None],
    ) -> dict[str, ResultT]:
        result: dict[str, ResultT] = {}
        first_file: dict[str, str] = {}
        for model, document in parsed:
            name = str(getattr(model, "name"))  # noqa: B009 - both models have a name
            if name in first_file:
                self._add(document, ("name",), f"duplicate {what} name {name!r} (also in {first_file[name]})")
                continue
            first_file[name] = document.file
            built = build(model, document)
            if built is None:
                self.broken.add((what, name))
            else:
                result[name] = built
        return result

    def _names(self, what: str, loaded: Mapping[str, Any] | set[str]) -> set[str]:
        """Names defined in files, whether or not the file loaded: what an operator reads in the folder."""
        return set(loaded) | {name for kind, name in self.broken if kind == what}

    def _add(self, document: Document, location: Location, message: str) -> None:
        if not document.around_cut(location):
            self.problems.append(document.problem(location, message))

    def _refer(
        self, document: Document, location: Location, what: str, name: str, known: Mapping[str, Any] | set[str]
    ) -> bool:
        """Whether ``name`` is a known ``what``; when it is not, report it unless its definition is
        broken (reported in its own place) or nothing can be known about that kind of name."""
        if name in known:
            return True
        if what not in self.unknowable and (what, name) not in self.broken:
            self._add(document, location, _unknown(what, name, self._names(what, known)))
        return False

    def _attempt(self, document: Document, location: Location, build: Callable[[], ResultT]) -> ResultT | None:
        """Run a domain constructor; a DomainError or ValueError becomes a problem at ``location``."""
        try:
            return build()
        except (DomainError, ValueError) as error:
            self._add(document, location, str(error))
            return None

    # --- memoguard.yaml ------------------------------------------------------------------------

    def _zone(self, name: str, document: Document, location: Location) -> ZoneInfo | None:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self._add(document, location, f"unknown time zone {name!r}: expected an IANA name such as Europe/Paris")
            return None

    def _database(self, url: str | None) -> str:
        if url is None:
            return f"sqlite:///{(self.directory / 'memoguard.db').resolve()}"
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
            return prefix + str((self.directory / url[len(prefix) :]).resolve())
        return url

    def _people(self, main: MainModel, document: Document) -> dict[str, Person]:
        people = {}
        for name, model in main.people.items():
            here: Location = ("people", name)
            phone = None
            if model.phone is not None:
                phone = self._phone(model.phone, main.phone_region, document, (*here, "phone"))
            zone = self._zone(model.timezone, document, (*here, "timezone")) if model.timezone else None
            for index, channel in enumerate(model.channels):
                self._refer(document, (*here, "channels", index), "channel", channel, main.channels)
            people[name] = Person(
                name=name,
                phone=phone,
                email=model.email,
                language=model.language,
                timezone=zone,
                channels=tuple(model.channels),
                admin=model.admin,
            )
        return people

    def _phone(self, text: str, region: str | None, document: Document, location: Location) -> str | None:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            hint = "" if region else " (write it as +33…, or set phone_region for national numbers)"
            self._add(document, location, f"invalid phone number {text!r}{hint}")
            return None
        if not phonenumbers.is_valid_number(number):
            self._add(document, location, f"invalid phone number {text!r}: not a valid number for its country")
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def _check_channels(self, main: MainModel, document: Document) -> None:
        for channel, entry in main.channels.items():
            if not entry.providers:
                self._add(document, ("channels", channel), "a channel needs at least one provider")
            for index, provider in enumerate(entry.providers):
                settings = main.providers.get(provider)
                if settings is None:
                    self._refer(document, ("channels", channel, index), "provider", provider, main.providers)
                elif settings.kind == "zendesk":
                    self._add(
                        document,
                        ("channels", channel, index),
                        f"provider {provider!r} opens helpdesk tickets and cannot page people: "
                        "name it in an escalation policy's outbound list instead",
                    )

    def _check_tokens(self, main: MainModel, document: Document) -> None:
        for name, earlier, key in shared_tokens(main.sources, self.directory):
            how = "the same token" if key == "token" else f"the same {key}, so the same token"
            line = document.line(("sources", earlier))
            self._add(
                document,
                ("sources", name),
                f"{how} as source {earlier!r} (line {line}): each source needs a token of its own, "
                "it is what tells their alarms apart",
            )

    def _routes(self, main: MainModel, document: Document, policies: Mapping[str, Policy]) -> tuple[Route, ...]:
        routes = []
        for index, model in enumerate(main.routes):
            here: Location = ("routes", index)
            # A policy that exists but failed to load has already been reported in its own file.
            self._refer(document, (*here, "policy"), "policy", model.policy, policies)
            sources = _as_set(model.match.source)
            for source in sorted(sources - set(main.sources)):
                self._refer(document, (*here, "match", "source"), "source", source, main.sources)
            routes.append(
                Route(
                    policy=model.policy,
                    sources=frozenset(sources),
                    severities=frozenset(_as_set(model.match.severity)),
                    labels=tuple(sorted(model.match.labels.items())),
                    resolve=model.resolve,
                )
            )
        return tuple(routes)

    # --- rosters --------------------------------------------------------------------------------

    def _roster(self, model: RosterModel, document: Document, main: MainModel, default: ZoneInfo) -> Roster | None:
        errors_before = len(self.problems)
        zone = self._zone(model.timezone, document, ("timezone",)) if model.timezone else default
        zone = zone or default
        layers = self._layers(model.layers, ("layers",), document, main)
        levels = []
        for name, level in model.levels.items():
            if name == "primary":
                self._add(document, ("levels", name), "'primary' is the roster's own layers and cannot be redefined")
                continue
            own = None
            if level.layers is not None:
                own = self._layers(level.layers, ("levels", name, "layers"), document, main)
            levels.append(Level(name, offset=level.offset or 0, layers=None if own is None else tuple(own)))
        level_names = {"primary", *model.levels}
        overrides = [
            override
            for index, item in enumerate(model.overrides)
            if (override := self._override(item, ("overrides", index), document, main, zone, level_names, model.name))
        ]
        if len(self.problems) > errors_before:
            return None
        where: list[tuple[str, Location]] = [("primary", ("layers",))]
        where.extend((name, ("levels", name)) for name in model.levels)
        for name, location in where:
            self.levels_at[(model.name, name)] = (document.file, document.line(location), format_location(location))
        return Roster(model.name, zone, tuple(layers), tuple(levels), tuple(overrides))

    def _override(
        self,
        item: OverrideModel,
        here: Location,
        document: Document,
        main: MainModel,
        zone: tzinfo,
        level_names: set[str],
        roster: str,
    ) -> Override | None:
        self._refer(document, (*here, "who"), "person", item.who, main.people)
        if item.level not in level_names:
            if not self._level_broken(roster, item.level):
                self._add(document, (*here, "level"), _unknown("level", item.level, level_names))
            return None
        start = self._attempt(document, (*here, "from"), lambda: parse_local_datetime(item.from_, zone))
        end = self._attempt(document, (*here, "to"), lambda: parse_local_datetime(item.to, zone))
        if start is None or end is None:
            return None
        ref = f"{document.file}:{document.line(here)}"
        return self._attempt(document, (*here, "to"), lambda: Override(item.who, start, end, item.level, ref))

    def _layers(self, models: list[LayerModel], base: Location, document: Document, main: MainModel) -> list[Layer]:
        layers = []
        for index, model in enumerate(models):
            here: Location = (*base, index)
            for position, member in enumerate(model.members):
                self._refer(document, (*here, "members", position), "person", member, main.people)
            weekday, at = parse_handoff(model.handoff)
            if weekday is not None and model.start.weekday() != weekday:
                day_name = model.start.strftime("%A").lower()
                self._add(
                    document,
                    (*here, "start"),
                    f"{model.start.isoformat()} is a {day_name}, not the weekday of handoff {model.handoff!r}",
                )
                continue
            windows = [
                window
                for position, item in enumerate(model.active)
                if (window := self._window(item, (*here, "active", position), document)) is not None
            ]
            anchor = datetime.combine(model.start, at)
            try:
                layer = Layer(model.name, tuple(model.members), model.shift, anchor, tuple(windows))
            except DomainError as error:
                self._add(document, here, str(error))
            else:
                layers.append(layer)
        names = [model.name for model in models]
        for index, name in enumerate(names):
            if name in names[:index]:
                self._add(document, (*base, index, "name"), f"duplicate layer name {name!r}")
        return layers

    def _window(self, model: WindowModel, here: Location, document: Document) -> Window | None:
        if model.holidays is not None:
            calendar = self._attempt(document, (*here, "holidays"), lambda: CountryHolidays(str(model.holidays)))
            return Window(holidays=calendar) if calendar else None
        return Window(
            days=frozenset(model.days) if model.days is not None else None,
            start=parse_time_of_day(model.from_) if model.from_ else None,
            end=parse_time_of_day(model.to) if model.to else None,
        )

    # --- policies -------------------------------------------------------------------------------

    def _policy(
        self, model: PolicyModel, document: Document, main: MainModel, rosters: Mapping[str, Roster]
    ) -> Policy | None:
        errors_before = len(self.problems)
        steps = [self._step(step, ("steps", index), document, main, rosters) for index, step in enumerate(model.steps)]
        ack_model = model.acknowledgement
        ack = self._attempt(
            document,
            ("acknowledgement",),
            lambda: AckRule(AckMode(ack_model.mode), ack_model.confirm_within, ack_model.quorum, ack_model.reack_after),
        )
        self._check_quorum(model, document)
        crisis = self._crisis(model.crisis_cell, document, main) if model.crisis_cell else None
        for index, name in enumerate(model.outbound):
            settings = main.providers.get(name)
            if settings is None:
                self._refer(document, ("outbound", index), "provider", name, main.providers)
            elif settings.kind not in ("zendesk", "webhook"):
                self._add(
                    document,
                    ("outbound", index),
                    f"provider {name!r} is of kind {settings.kind}: outbound takes zendesk or webhook providers",
                )
        if len(self.problems) > errors_before or ack is None:
            return None
        notices, outbound = frozenset(model.notices), tuple(dict.fromkeys(model.outbound))
        return self._attempt(
            document,
            ("steps",),
            lambda: Policy(model.name, tuple(s for s in steps if s), ack, model.repeat, crisis, notices, outbound),
        )

    def _step(
        self,
        model: StepModel,
        here: Location,
        document: Document,
        main: MainModel,
        rosters: Mapping[str, Roster],
    ) -> Step:
        for index, target in enumerate(model.notify):
            location = (*here, "notify", index)
            if target.kind == TargetKind.PERSON:
                self._refer(document, location, "person", target.name, main.people)
            elif target.kind == TargetKind.ROSTER:
                roster = rosters.get(target.name)
                if roster is None:
                    self._refer(document, location, "roster", target.name, rosters)
                elif target.level not in roster.level_names and not self._level_broken(roster.name, target.level):
                    self._add(
                        document,
                        location,
                        f"roster {target.name!r} has no level {target.level!r} "
                        f"(levels: {', '.join(roster.level_names)})",
                    )
        for index, target in enumerate(model.notify):
            if target in model.notify[:index]:
                first = document.line((*here, "notify", model.notify.index(target)))
                self._add(
                    document, (*here, "notify", index), f"{target} is already a target of this step (line {first})"
                )
        self._check_channel_list(model.channels, (*here, "channels"), document, main)
        return Step(tuple(model.notify), tuple(model.channels), model.ack_within)

    def _check_quorum(self, model: PolicyModel, document: Document) -> None:
        """An ack stage counts the distinct people paged so far, over every step: a quorum larger than the
        people the steps name can never be met. A roster target pages whoever is on call, so how many
        people it reaches over an incident is not known here: it counts as at least one, and a policy
        with any roster target is never refused by this check."""
        quorum = model.acknowledgement.quorum
        targets = {target for step in model.steps for target in step.notify}
        if quorum == 1 or any(target.kind == TargetKind.ROSTER for target in targets):
            return
        people = len(targets)
        if quorum > people:
            self._add(
                document,
                ("acknowledgement", "quorum"),
                f"quorum {quorum} can never be met: the steps page {people} distinct person(s)",
            )

    def _crisis(self, model: CrisisModel, document: Document, main: MainModel) -> CrisisCell | None:
        here: Location = ("crisis_cell",)
        for index, member in enumerate(model.members):
            self._refer(document, (*here, "members", index), "person", member, main.people)
            if member in model.members[:index]:
                first = document.line((*here, "members", model.members.index(member)))
                self._add(document, (*here, "members", index), f"{member!r} is already a member (line {first})")
        self._check_channel_list(model.channels, (*here, "channels"), document, main)
        bridge = None
        if model.bridge and "person" not in self.unknowable:  # national numbers need memoguard.yaml's phone_region
            bridge = self._phone(model.bridge, main.phone_region, document, (*here, "bridge"))
        distinct = len(set(model.members))
        if model.quorum > distinct:
            self._add(
                document,
                (*here, "quorum"),
                f"quorum {model.quorum} can never be met: the cell has {distinct} distinct member(s)",
            )
            return None
        return self._attempt(
            document,
            here,
            lambda: CrisisCell(tuple(model.members), tuple(model.channels), model.quorum, bridge, model.repeat_every),
        )

    def _check_channel_list(self, channels: list[str], here: Location, document: Document, main: MainModel) -> None:
        for index, channel in enumerate(channels):
            self._refer(document, (*here, index), "channel", channel, main.channels)

    def _level_broken(self, roster: str, level: str) -> bool:
        return bool({("level", f"{roster}/{level}"), ("level", f"{roster}/*")} & self.broken)


def _unknown(what: str, name: str, known: Mapping[str, Any] | set[str]) -> str:
    names = ", ".join(sorted(known)) or "none defined"
    return f"unknown {what} {name!r} (known: {names})"


def _as_set(value: str | list[str] | None) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)
