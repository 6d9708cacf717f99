"""Loading a configuration directory: memoguard.yaml, rosters/*.yaml, escalation_policies/*.yaml.

Every problem is collected, with its file and line, before anything is refused: an operator fixing a
broken config at night wants the whole list at once, not one error per run. So a file that fails its
schema is still checked for what is left of it (see salvage.py), a file that is not YAML at all does not
stop the others being checked, and a reference to something whose own definition is broken or could
not be read is not reported a second time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from memoguard.config.document import Document, Location, format_location, read_document
from memoguard.config.findings import Findings
from memoguard.config.model import HEARTBEAT_SEVERITY, Config, heartbeat_labels
from memoguard.config.policies import build_policy
from memoguard.config.problem import ConfigError, Problem
from memoguard.config.rosters import build_roster
from memoguard.config.salvage import salvage
from memoguard.config.schema import MainModel, PolicyModel, RosterModel
from memoguard.config.silences import build_silences
from memoguard.config.tokens import shared_tokens
from memoguard.config.translation import translate
from memoguard.domain.person import Person
from memoguard.domain.policy import Policy, TargetKind
from memoguard.domain.roster import Roster
from memoguard.domain.route import Route, first_match
from memoguard.domain.selftest import SelfTest, parse_schedule

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
        self.found = Findings()
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
            self.found.unknowable = {"person", "channel", "provider", "source"}
            main = MainModel.model_construct(people={})
            zone = ZoneInfo("UTC")
            people: dict[str, Person] = {}
        else:
            main, doc = parsed
            zone = self.found.zone(main.timezone, doc, ("timezone",)) or ZoneInfo("UTC")
            people = self._people(main, doc)
            self._check_channels(main, doc)
            self._check_links(main, doc)
            self._check_tokens(main, doc)
            self._check_callbacks(main, doc)
        roster_map = self._unique(rosters, "roster", lambda model, d: self._roster(model, d, main, zone))
        policy_map = self._unique(
            policies, "policy", lambda model, d: build_policy(self.found, model, d, main, roster_map)
        )
        if parsed is None:
            raise ConfigError(self.found.problems)
        routes = self._routes(main, doc, policy_map)
        self._check_heartbeats_routed(main, doc, routes)
        silences = build_silences(self.found, main, doc, zone)
        self_test = self._self_test(main, doc, zone, policy_map, roster_map)
        if self.found.problems:
            raise ConfigError(self.found.problems)
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
            silences=silences,
            metrics=main.metrics,
            logging=main.logging,
            self_test=self_test,
            digest=self._digest(),
        )

    # --- files ---------------------------------------------------------------------------------

    def _digest(self) -> str:
        """SHA-256 over every file loaded, each as its name relative to the directory and its bytes."""
        digest = hashlib.sha256()
        for path in [self.directory / MAIN_FILE, *self._files(ROSTER_DIR), *self._files(POLICY_DIR)]:
            name = path.relative_to(self.directory).as_posix().encode()
            data = path.read_bytes()
            digest.update(b"%d:%s%d:" % (len(name), name, len(data)))
            digest.update(data)
        return digest.hexdigest()

    def _files(self, folder: str) -> list[Path]:
        base = self.directory / folder
        return sorted(p for p in base.glob("*") if p.suffix in (".yaml", ".yml") and p.is_file())

    def _parse(self, path: Path, model: type[ModelT], what: str) -> tuple[ModelT, Document] | None:
        document, problems = read_document(path, str(path))
        self.found.problems.extend(problems)
        if document is None or problems:
            return None
        if not isinstance(document.data, dict):
            self.found.problems.append(Problem(document.file, 1, "", "expected a mapping of keys to values at the top"))
            return None
        try:
            return model.model_validate(document.data), document
        except ValidationError as error:
            self.found.problems.extend(translate(error, document, model))
        left = salvage(model, document)
        if left is None:
            name = document.data.get("name")
            if isinstance(name, str):
                self.found.broken.add((what, name))
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
                    self.found.unknowable.add(kind)
                elif len(location) == 2:
                    self.found.broken.add((kind, str(location[1])))
            elif what == "roster" and location[0] == "levels" and len(location) <= 2:
                level = str(location[1]) if len(location) == 2 else "*"
                self.found.broken.add(("level", f"{data.get('name')}/{level}"))

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
                self.found.add(document, ("name",), f"duplicate {what} name {name!r} (also in {first_file[name]})")
                continue
            first_file[name] = document.file
            built = build(model, document)
            if built is None:
                self.found.broken.add((what, name))
            else:
                result[name] = built
        return result

    # --- memoguard.yaml ------------------------------------------------------------------------

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
                phone = self.found.phone(model.phone, main.phone_region, document, (*here, "phone"))
            zone = self.found.zone(model.timezone, document, (*here, "timezone")) if model.timezone else None
            for index, channel in enumerate(model.channels):
                self.found.refer(document, (*here, "channels", index), "channel", channel, main.channels)
                # Not when salvaging cut a bad address: that is reported at its own line already.
                lost = document.around_cut((*here, "email"))
                if model.email is None and not lost and (mailer := _mailer(main, channel)) is not None:
                    self.found.add(
                        document,
                        (*here, "channels", index),
                        f"channel {channel!r} sends e-mail (provider {mailer!r}) but {name} has no email address",
                    )
            if model.admin and model.role == "responder":
                self.found.add(
                    document, (*here, "role"), f"{name} has role 'responder' and admin: true: keep one (role: admin)"
                )
            people[name] = Person(
                name=name,
                phone=phone,
                email=model.email,
                language=model.language,
                timezone=zone,
                channels=tuple(model.channels),
                admin=model.admin or model.role == "admin",
            )
        return people

    def _roster(self, model: RosterModel, document: Document, main: MainModel, zone: ZoneInfo) -> Roster | None:
        roster = build_roster(self.found, model, document, main, zone)
        if roster is not None:
            where: list[tuple[str, Location]] = [("primary", ("layers",))]
            where.extend((name, ("levels", name)) for name in model.levels)
            for name, location in where:
                self.levels_at[(model.name, name)] = (document.file, document.line(location), format_location(location))
        return roster

    def _check_channels(self, main: MainModel, document: Document) -> None:
        for channel, entry in main.channels.items():
            if not entry.providers:
                self.found.add(document, ("channels", channel), "a channel needs at least one provider")
            for index, provider in enumerate(entry.providers):
                settings = main.providers.get(provider)
                if settings is None:
                    self.found.refer(document, ("channels", channel, index), "provider", provider, main.providers)
                elif channel == "voice" and settings.kind == "twilio" and settings.from_ is None:
                    self.found.add(
                        document,
                        ("channels", channel, index),
                        f"provider {provider!r} places calls for the voice channel, which needs its 'from' "
                        "number: a messaging_service_sid can send SMS, not call",
                    )
                elif settings.kind == "zendesk":
                    self.found.add(
                        document,
                        ("channels", channel, index),
                        f"provider {provider!r} opens helpdesk tickets and cannot page people: "
                        "name it in an escalation policy's outbound list instead",
                    )

    def _check_callbacks(self, main: MainModel, document: Document) -> None:
        # Twilio reports delivery and hands over replies by calling memoguard back: without a public URL it
        # has nowhere to call, and every signature is checked against that URL.
        if main.http.public_url is not None:
            # Checked whoever uses it: Twilio refuses a StatusCallback that is not an absolute URL, and
            # every page through it would be retried until its channel gave up.
            if not main.http.public_url.startswith(("http://", "https://")):
                self.found.add(document, ("http", "public_url"), "public_url must start with http:// or https://")
            return
        for name, settings in main.providers.items():
            if settings.kind == "twilio":
                self.found.add(
                    document,
                    ("providers", name),
                    f"provider {name!r} is a twilio provider, which needs http.public_url: the https:// "
                    "address where Twilio reaches this service (delivery statuses, replies)",
                )

    def _check_links(self, main: MainModel, document: Document) -> None:
        """E-mail pages carry signed acknowledgement links (services/link.py): they need the address
        people reach this service at, and the key that signs them."""
        mailers = [name for name, settings in main.providers.items() if settings.kind == "smtp"]
        if not mailers:
            return
        if main.http.public_url is None:
            self.found.add(
                document,
                ("http",),
                f"provider {mailers[0]!r} sends e-mail, whose pages link back to this service: "
                "set http.public_url (e.g. https://memoguard.example.org)",
            )
        if main.http.link_secret_file is None and main.http.link_secret_env is None:
            self.found.add(
                document,
                ("http",),
                f"provider {mailers[0]!r} sends e-mail, whose acknowledgement links are signed: "
                "set http.link_secret_file or http.link_secret_env (a random key of 32 bytes or more)",
            )

    def _check_tokens(self, main: MainModel, document: Document) -> None:
        for name, earlier, key in shared_tokens(main.sources, self.directory):
            how = "the same token" if key == "token" else f"the same {key}, so the same token"
            line = document.line(("sources", earlier))
            self.found.add(
                document,
                ("sources", name),
                f"{how} as source {earlier!r} (line {line}): each source needs a token of its own, "
                "it is what tells their alarms apart",
            )

    def _self_test(
        self,
        main: MainModel,
        document: Document,
        zone: ZoneInfo,
        policies: Mapping[str, Policy],
        rosters: Mapping[str, Roster],
    ) -> SelfTest | None:
        model = main.self_test
        if model is None:
            return None
        here: Location = ("self_test",)
        where = zone if model.timezone is None else self.found.zone(model.timezone, document, (*here, "timezone"))
        known: Mapping[str, object] = rosters if model.to.kind == TargetKind.ROSTER else main.people
        found = self.found.refer(document, (*here, "to"), model.to.kind.value, model.to.name, known)
        found = self.found.refer(document, (*here, "policy"), "policy", model.policy, policies) and found
        if where is None or not found:
            return None
        return SelfTest(parse_schedule(model.every, where), model.to, model.timeout, model.policy)

    def _routes(self, main: MainModel, document: Document, policies: Mapping[str, Policy]) -> tuple[Route, ...]:
        routes = []
        for index, model in enumerate(main.routes):
            here: Location = ("routes", index)
            # A policy that exists but failed to load has already been reported in its own file.
            self.found.refer(document, (*here, "policy"), "policy", model.policy, policies)
            sources = _as_set(model.match.source)
            for source in sorted(sources - set(main.sources)):
                self.found.refer(document, (*here, "match", "source"), "source", source, main.sources)
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

    def _check_heartbeats_routed(self, main: MainModel, document: Document, routes: tuple[Route, ...]) -> None:
        """A missed heartbeat raises a synthetic alarm (services/deadman.py): one no route takes would be
        stored unrouted and page nobody, the very silence a heartbeat is there to catch."""
        for name, source in main.sources.items():
            if source.heartbeat is None:
                continue
            if first_match(routes, name, HEARTBEAT_SEVERITY, heartbeat_labels(name)) is None:
                labels = ", ".join(f"{key}={value}" for key, value in heartbeat_labels(name).items())
                self.found.add(
                    document,
                    ("sources", name),
                    f"heartbeat {name!r} would page nobody when missed: no route matches its alarm "
                    f"(source {name}, severity {HEARTBEAT_SEVERITY}, labels {labels}); "
                    "add a route for it, e.g. {match: {labels: {alertname: HeartbeatMissed}}, policy: ...}",
                )


def _mailer(main: MainModel, channel: str) -> str | None:
    """The first SMTP provider of ``channel``, if it has one."""
    entry = main.channels.get(channel)
    for provider in entry.providers if entry is not None else []:
        settings = main.providers.get(provider)
        if settings is not None and settings.kind == "smtp":
            return provider
    return None


def _as_set(value: str | list[str] | None) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)
