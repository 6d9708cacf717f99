"""``memoguard import opsgenie --from-dir DIR``: Opsgenie's people, schedules and escalations as memoguard's
configuration directory (memoguard.yaml, rosters/, escalation_policies/) and IMPORT-REPORT.md.

Opsgenie ends on 5 April 2027. The input is Opsgenie's REST API answers saved as JSON files (an air-gapped
site's export, or ``curl`` run once): ``users.json`` (GET /v2/users), ``contacts/<user id>.json`` (GET
/v2/users/{id}/contacts), ``teams.json`` (GET /v2/teams, with ``members``), ``schedules.json`` (GET
/v2/schedules?expand=rotation), ``overrides/<schedule id>.json`` (GET /v2/schedules/{id}/overrides) and
``escalations.json`` (GET /v2/escalations). Each is the API's own ``{"data": …}`` envelope.
``--api-key-file``/``--url`` reads them from the API itself (``fetch``) and keeps them in the output's
``opsgenie-export/``, so that the rest is the same code either way.

The output is plain YAML in memoguard's style, each object with a comment saying which Opsgenie object it
came from; every object or setting without an equivalent is listed in the report with what was done
instead, so that nothing is dropped silently. The rules, each chosen so that the same people are on call:

- A user is a person named after the local part of their username (e-mail); sms/voice contacts give the
  phone (Opsgenie's ``CC-NUMBER`` as E.164 ``+CCNUMBER``), the first one found; a user with none is kept
  without a phone (reported: they can be paged by e-mail only).
- A schedule is a roster in its time zone; each rotation a layer: ``length`` × hourly/daily/weekly is the
  shift, the rotation's ``startDate`` read in the schedule's zone the first handoff (wall-clock, like
  Opsgenie's), its time restriction the layer's ``active`` windows (a restriction across midnight or
  across days is cut into windows the same way). Opsgenie notifies the on-call user of every rotation
  together; a level has one person at a time, so the first rotation is the primary level, every other one
  a level of its own, and a policy step to the schedule pages all its levels.
- An override ending in the future is a roster override; past ones are left out (reported).
- An escalation is a policy: rules at the same delay are one step, a step lasts until the next rule's
  delay; the last step lasts the repeat's wait interval (or 15 minutes); ``repeat.count`` is repeats.

``--compare DAYS`` is the proof a team switches on: it reads the saved rotations again with an evaluator of
its own (Opsgenie's rules: every rotation's user notified, restrictions as weekly intervals, overrides
replacing the rotations they name) and asks memoguard's roster code, on the YAML just written, who is on
call at every change point of either side over DAYS days, printing each disagreement. Both sides count
shifts in wall-clock time in the schedule's zone: that Opsgenie does so across DST is an assumption of
this importer (its documentation calls the start time the hand-over time), which a team checks against
Opsgenie's own calendar for the week of a change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import httpx

from memoguard import bootstrap

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
SHORT = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
UNIT = {"hourly": "h", "daily": "d", "weekly": "w"}
LAST_STEP = timedelta(minutes=15)


class ImportProblem(click.ClickException):
    """Input that cannot be read: named with its file and what is wrong."""


@dataclass
class Report:
    lost: list[str] = field(default_factory=list)

    def add(self, where: str, what: str, instead: str) -> None:
        self.lost.append(f"- **{where}**: {what}. Instead: {instead}.")

    def markdown(self) -> str:
        lines = ["# Import report (Opsgenie)", ""]
        if not self.lost:
            lines.append("Everything carried over.")
        else:
            lines.append("These objects or settings did not carry over as they were:")
            lines.append("")
            lines += self.lost
        return "\n".join(lines) + "\n"


def _q(value: str) -> str:
    """A YAML scalar: JSON's double-quoted string is valid YAML."""
    return json.dumps(value, ensure_ascii=False)


def _load(directory: Path, name: str, required: bool = True) -> list[dict[str, Any]]:
    path = directory / name
    if not path.is_file():
        if required:
            raise ImportProblem(f"{path}: missing (the saved answer of Opsgenie's API, see --help)")
        return []
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ImportProblem(f"{path}: not readable JSON ({error})") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ImportProblem(f'{path}: expected Opsgenie\'s envelope {{"data": [ … ]}}')
    return data


def _name(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._") or "x"
    if not base[0].isalnum():
        base = "x" + base
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    taken.add(name)
    return name


def _e164(to: str) -> str | None:
    country, _, number = to.partition("-")
    digits = re.sub(r"\D", "", country + number)
    return f"+{digits}" if number and 8 <= len(digits) <= 15 else None


@dataclass
class Person:
    name: str
    source: str
    phone: str | None
    email: str | None
    channels: list[str]


def _people(directory: Path, report: Report) -> tuple[dict[str, Person], dict[str, str]]:
    """People by Opsgenie user id, and user id by username (references use either)."""
    people: dict[str, Person] = {}
    by_username: dict[str, str] = {}
    taken: set[str] = set()
    for user in _load(directory, "users.json"):
        uid, username = str(user.get("id", "")), str(user.get("username", ""))
        if not uid or not username:
            raise ImportProblem(f"{directory / 'users.json'}: a user without id or username: {user}")
        name = _name(username.split("@", 1)[0], taken)
        phone, channels = None, []
        for contact in _load(directory, f"contacts/{uid}.json", required=False):
            method, to = str(contact.get("method", "")), str(contact.get("to", ""))
            if method in ("sms", "voice", "mobile") and phone is None:
                phone = _e164(to)
                if phone is None:
                    report.add(f"user {username}", f"phone {to!r} is not a number E.164 can hold", "left out")
            channel = {"mobile": "sms"}.get(method, method)
            if channel in ("sms", "voice", "email") and channel not in channels and contact.get("enabled", True):
                channels.append(channel)
        email = username if "@" in username else None
        if phone is None:
            channels = [c for c in channels if c == "email"]
            report.add(f"user {username}", "no sms or voice contact", "a person without a phone: e-mail only")
        if not channels:
            channels = ["email"] if email else []
        people[uid] = Person(name, f"Opsgenie user {username} ({uid})", phone, email, channels)
        by_username[username] = uid
    if not people:
        raise ImportProblem(f"{directory / 'users.json'}: no users")
    report.add(
        "every user",
        "Opsgenie's per-user notification rules (which channel when, quiet hours)",
        "each person's channels are their enabled sms/voice/email contacts, in that order; steps page sms then voice",
    )
    return people, by_username


def _user(ref: dict[str, Any], people: dict[str, Person], by_username: dict[str, str]) -> Person | None:
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


def _rosters(  # noqa: PLR0915 (one pass over the schedule, in the order written)
    directory: Path, people: dict[str, Person], by_username: dict[str, str], report: Report, now: datetime
) -> dict[str, tuple[str, str, list[str]]]:
    """Roster YAML text by file name, and the roster's name by schedule id (as (name, text))."""
    written: dict[str, tuple[str, str, list[str]]] = {}
    taken: set[str] = set()
    for schedule in _load(directory, "schedules.json"):
        sid, title = str(schedule.get("id", "")), str(schedule.get("name", ""))
        zone_name = str(schedule.get("timezone") or "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ImportProblem(f"schedule {title!r}: unknown time zone {zone_name!r}") from None
        name = _name(title, taken)
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
                person = _user(participant, people, by_username) if participant.get("type") == "user" else None
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
                f"  - name: {_name(rtitle, layer_names)}",
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
            level = _name(layer[1].removeprefix("  - name: "), level_names)
            extra.append(level)
            tail.append(f"  {level}:   # {layer[0].strip().removeprefix('# ')}: paged with the primary")
            tail.append("    layers:")
            tail += ["    " + line for line in layer[1:]]
        overrides = []
        for override in _load(directory, f"overrides/{sid}.json", required=False):
            person = _user(override.get("user") or {}, people, by_username)
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


def _duration(amount: Any, unit: Any) -> timedelta:
    return {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}.get(
        str(unit), timedelta(minutes=1)
    ) * int(amount or 0)


def _minutes(delta: timedelta) -> str:
    return f"{max(1, int(delta.total_seconds() // 60))}m"


def _policies(  # noqa: PLR0915 (one pass over the escalation, in the order written)
    directory: Path,
    people: dict[str, Person],
    by_username: dict[str, str],
    rosters: dict[str, tuple[str, str, list[str]]],
    report: Report,
) -> dict[str, str]:
    teams = {str(t.get("id")): t for t in _load(directory, "teams.json", required=False)}
    team_by_name = {str(t.get("name")): str(t.get("id")) for t in teams.values()}
    roster_by_name = {str(s.get("name")): str(s.get("id")) for s in _load(directory, "schedules.json")}
    written: dict[str, str] = {}
    taken: set[str] = set()
    for escalation in _load(directory, "escalations.json", required=False):
        title = str(escalation.get("name", ""))
        where = f"escalation {title}"
        steps: dict[timedelta, list[str]] = {}
        for rule in escalation.get("rules") or []:
            delay = _duration((rule.get("delay") or {}).get("timeAmount"), (rule.get("delay") or {}).get("timeUnit"))
            recipient = rule.get("recipient") or {}
            kind = recipient.get("type")
            targets: list[str] = []
            if kind == "user":
                person = _user(recipient, people, by_username)
                targets = [f"person:{person.name}"] if person else []
            elif kind == "schedule":
                sid = str(recipient.get("id") or roster_by_name.get(str(recipient.get("name")), ""))
                if sid in rosters:
                    # Opsgenie's "next" is the one after the on-call user in the rotation: the secondary level
                    # every imported roster has (offset 1); "previous" has no equivalent.
                    notify = str(rule.get("notifyType") or "default")
                    level = "/secondary" if notify == "next" else ""
                    if notify not in ("default", "next"):
                        report.add(where, f"notifyType {notify} of a schedule", "the roster's on-call (primary)")
                    roster, _, levels = rosters[sid]
                    targets = [f"roster:{roster}{level}"]
                    if not level:
                        targets += [f"roster:{roster}/{extra}" for extra in levels]
            elif kind == "team":
                tid = str(recipient.get("id") or team_by_name.get(str(recipient.get("name")), ""))
                team = teams.get(tid, {})
                members = [_user(m.get("user") or {}, people, by_username) for m in team.get("members") or []]
                targets = [f"person:{p.name}" for p in members if p]
                report.add(where, f"a rule to team {recipient.get('name') or tid}", "its members are paged together")
            if not targets:
                report.add(
                    where, f"a rule to {kind} {recipient.get('name') or recipient.get('id')}", "left out (no match)"
                )
                continue
            if rule.get("condition") == "if-not-closed":
                report.add(
                    where, "condition if-not-closed", "escalates unless acknowledged (memoguard's only condition)"
                )
            for target in targets:
                if target not in steps.setdefault(delay, []):
                    steps[delay].append(target)
        if not steps:
            report.add(where, "no rule could be mapped", "no policy written")
            continue
        repeat = escalation.get("repeat") or {}
        wait = _duration(repeat.get("waitInterval"), "minutes")
        delays = sorted(steps)
        lines = [
            f"# From Opsgenie escalation {title!r} ({escalation.get('id', '')})",
            f"name: {_name(title, taken)}",
            "acknowledgement: {mode: single}",
            "steps:",
        ]
        for index, delay in enumerate(delays):
            last = index + 1 == len(delays)
            within = (delays[index + 1] - delay) if not last else (wait or LAST_STEP)
            if within <= timedelta():
                within = LAST_STEP
            notify = ", ".join(_q(t) for t in steps[delay])
            lines.append(f"  - {{notify: [{notify}], channels: [sms, voice], ack_within: {_minutes(within)}}}")
        count = int(repeat.get("count") or 0)
        if count:
            lines.append(f"repeat: {min(count, 100)}")
        if repeat.get("closeAlertAfterAll"):
            report.add(where, "closeAlertAfterAll", "not carried over: incidents stay open until someone resolves them")
        written[_name(title, set())] = "\n".join(lines) + "\n"
    return written


def write_import(directory: Path, output: Path, now: datetime) -> Report:
    report = Report()
    people, by_username = _people(directory, report)
    rosters = _rosters(directory, people, by_username, report, now)
    policies = _policies(directory, people, by_username, rosters, report)
    if not policies:
        raise ImportProblem(f"{directory / 'escalations.json'}: no escalation could be imported (a policy is needed)")
    if output.exists() and any(path.name != EXPORT for path in output.iterdir()):
        raise ImportProblem(f"{output}: not empty; give a new directory")
    (output / "rosters").mkdir(parents=True, exist_ok=True)
    (output / "escalation_policies").mkdir(exist_ok=True)
    main = [
        "# Imported from Opsgenie by `memoguard import opsgenie`: see IMPORT-REPORT.md for what did not carry over.",
        "timezone: UTC",
        "people:",
    ]
    for person in people.values():
        fields = []
        if person.phone:
            fields.append(f"phone: {_q(person.phone)}")
        if person.email:
            fields.append(f"email: {person.email}")
        if person.channels:
            fields.append(f"channels: [{', '.join(person.channels)}]")
        main.append(f"  {person.name}: {{{', '.join(fields)}}}   # {person.source}")
    first = sorted(policies)[0]
    main += [
        "sources:",
        "  # Tools that sent to Opsgenie: base URL <memoguard>/api/v1/integrations/opsgenie, this token as GenieKey.",
        "  opsgenie: {kind: opsgenie, token_env: MEMOGUARD_OPSGENIE_TOKEN}",
        "routes:",
        f"  - {{policy: {first}}}   # Opsgenie routes alerts by integration and team: write your routes here",
        "channels:",
        "  # The console provider prints pages: configure real SMS/voice/e-mail providers before going live.",
        "  sms: [console]",
        "  voice: [console]",
        "  email: [console]",
        "providers:",
        "  console: {kind: console}",
    ]
    (output / "memoguard.yaml").write_text("\n".join(main) + "\n", encoding="utf-8")
    for name, text, _ in rosters.values():
        (output / "rosters" / f"{name}.yaml").write_text(text, encoding="utf-8")
    for name, text in policies.items():
        (output / "escalation_policies" / f"{name}.yaml").write_text(text, encoding="utf-8")
    report.add("routing", "Opsgenie's integrations, alert policies and team routing rules", f"one route to {first}")
    (output / "IMPORT-REPORT.md").write_text(report.markdown(), encoding="utf-8")
    return report


@click.group(name="import")
def import_group() -> None:
    """Write a configuration directory from another on-call tool's data (Opsgenie for now)."""


# --- --api-key-file/--url: the same files, read from Opsgenie's API ---------------------------------------

EXPORT = "opsgenie-export"  # where, in the output directory, the answers read from the API are kept
MAX_PAGES = 1000


def fetch(url: str, key: str, target: Path) -> None:
    """Save Opsgenie's answers under ``target`` in the layout ``--from-dir`` reads. Follows ``paging.next``
    links, only to the same origin (the key is never sent elsewhere)."""
    origin = urlsplit(url)
    client = httpx.Client(headers={"Authorization": f"GenieKey {key}"}, timeout=30, follow_redirects=False)

    def get(path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        address = path if path.startswith("http") else url.rstrip("/") + path
        there = urlsplit(address)
        if (there.scheme, there.netloc) != (origin.scheme, origin.netloc):
            raise ImportProblem(f"{address}: Opsgenie's paging points away from {url}: not followed")
        try:
            response = client.get(address, params=params)
        except httpx.HTTPError as error:
            raise ImportProblem(f"{address}: {error or type(error).__name__}") from None
        if response.status_code == 401:
            raise ImportProblem(f"{url}: Opsgenie refused the API key (401): it needs read access (a GenieKey)")
        if response.status_code != 200:
            raise ImportProblem(f"{address}: Opsgenie answered {response.status_code}: {response.text[:200]}")
        try:
            answer = response.json()
        except ValueError:
            raise ImportProblem(f"{address}: not JSON") from None
        if not isinstance(answer, dict):
            raise ImportProblem(f"{address}: expected a JSON object")
        return answer

    def listing(path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        answer = get(path, params)
        for _ in range(MAX_PAGES):
            data = answer.get("data")
            if not isinstance(data, list):
                raise ImportProblem(f'{url}{path}: expected Opsgenie\'s envelope {{"data": [ … ]}}')
            items += data
            following = (answer.get("paging") or {}).get("next")
            if not following:
                return items
            answer = get(str(following))
        raise ImportProblem(f"{url}{path}: more than {MAX_PAGES} pages")

    def save(name: str, data: Any) -> None:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"data": data}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    with client:
        users = listing("/v2/users", {"limit": "100"})
        save("users.json", users)
        for user in users:
            save(f"contacts/{user.get('id')}.json", listing(f"/v2/users/{user.get('id')}/contacts"))
        teams = [get(f"/v2/teams/{team.get('id')}").get("data") for team in listing("/v2/teams")]
        save("teams.json", teams)
        schedules = listing("/v2/schedules", {"expand": "rotation"})
        save("schedules.json", schedules)
        for schedule in schedules:
            save(f"overrides/{schedule.get('id')}.json", listing(f"/v2/schedules/{schedule.get('id')}/overrides"))
        save("escalations.json", listing("/v2/escalations"))


# --- --compare: Opsgenie's rotations read again, on their own, against the written rosters -------------------


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


def compare(directory: Path, output: Path, start: datetime, days: int) -> list[str]:
    """Every hand-off in the next ``days`` days where the written rosters page other people than Opsgenie."""
    config = bootstrap.load(output)
    names: dict[str, str] = {}
    people, by_username = _people(directory, Report())
    for uid, person in people.items():
        names[uid] = person.name
    for username, uid in by_username.items():
        names[username] = people[uid].name
    end = start + timedelta(days=days)
    lines = []
    for schedule in _load(directory, "schedules.json"):
        title = str(schedule.get("name"))
        roster = next(
            (r for r in config.rosters.values() if f"({schedule.get('id')})" in _origin(output, r.name)), None
        )
        if roster is None:
            lines.append(f"schedule {title!r}: no roster was written for it")
            continue
        overrides = _load(directory, f"overrides/{schedule.get('id')}.json", required=False)
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


def _origin(output: Path, roster: str) -> str:
    path = output / "rosters" / f"{roster}.yaml"
    return path.read_text(encoding="utf-8").splitlines()[0] if path.is_file() else ""


@import_group.command(name="opsgenie")
@click.option(
    "--from-dir",
    "from_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Opsgenie's API answers saved as JSON: users.json, contacts/<id>.json, teams.json, schedules.json "
    "(?expand=rotation), overrides/<schedule id>.json, escalations.json.",
)
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read Opsgenie's API instead, with the key in this file (an API integration's key, read access); "
    "the answers are kept in OUTPUT/opsgenie-export/.",
)
@click.option(
    "--url",
    default="https://api.opsgenie.com",
    show_default=True,
    help="Opsgenie's API (EU accounts: https://api.eu.opsgenie.com).",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The configuration directory to write (new or empty).",
)
@click.option(
    "--compare",
    "days",
    type=click.IntRange(1, 366),
    default=None,
    help="Then print every hand-off over the next DAYS days where the written rosters put other people "
    "on call than Opsgenie's rotations (read again from the saved files); exit code 1 if any.",
)
@click.option(
    "--from",
    "start_text",
    metavar="INSTANT",
    default=None,
    help="Where --compare starts: an ISO 8601 instant with its offset (default: now).",
)
def import_opsgenie(
    from_dir: Path | None,
    api_key_file: Path | None,
    url: str,
    output: Path,
    days: int | None,
    start_text: str | None,
) -> None:
    """Import Opsgenie's users, schedules (rotations, restrictions, overrides) and escalations.

    Writes OUTPUT/memoguard.yaml, rosters/, escalation_policies/ and IMPORT-REPORT.md (also printed):
    every object or setting that did not carry over, and what was done instead. Run `memoguard check
    OUTPUT` next.
    """
    now = datetime.now(UTC)
    if start_text is not None:
        try:
            now = datetime.fromisoformat(start_text)
        except ValueError:
            raise click.BadParameter(f"{start_text!r} is not an ISO 8601 instant", param_hint="--from") from None
        if now.tzinfo is None:
            raise click.BadParameter(f"{start_text!r} has no offset (such as +01:00 or Z)", param_hint="--from")
    if (from_dir is None) == (api_key_file is None):
        raise click.UsageError("give --from-dir (saved answers) or --api-key-file (the live API), one of them")
    if api_key_file is not None:
        if output.exists() and any(output.iterdir()):
            raise ImportProblem(f"{output}: not empty; give a new directory")
        key = api_key_file.read_text(encoding="utf-8").strip()
        if not key:
            raise ImportProblem(f"{api_key_file}: empty (the Opsgenie API key)")
        from_dir = output / EXPORT
        fetch(url, key, from_dir)
    assert from_dir is not None
    report = write_import(from_dir, output, now)
    click.echo(report.markdown())
    click.echo(f"written: {output} (check it with `memoguard check {output}`)")
    if days is None:
        return
    disagreements = compare(from_dir, output, now, days)
    for line in disagreements:
        click.echo(line)
    if disagreements:
        raise ImportProblem(f"{len(disagreements)} hand-offs disagree over the next {days} days (listed above)")
    click.echo(f"compare: every hand-off over the next {days} days agrees with Opsgenie's rotations")
