"""``memoguard import opsgenie``: Opsgenie's people, schedules and escalations as memoguard's
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

``--compare DAYS``: see ``opsgenie_rules`` (Opsgenie's rules read again on their own).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from memoguard.cli.importer import opsgenie_rules
from memoguard.cli.importer.api import Api
from memoguard.cli.importer.command import Vendor, make_command
from memoguard.cli.importer.common import (
    LAST_STEP,
    ImportProblem,
    Person,
    Report,
    Written,
    e164,
    minutes,
    q,
    save_json,
)
from memoguard.cli.importer.common import name as unique
from memoguard.cli.importer.opsgenie_rosters import load as _load
from memoguard.cli.importer.opsgenie_rosters import rosters as _rosters
from memoguard.cli.importer.opsgenie_rosters import user as _user

EXPORT = "opsgenie-export"


def _e164(to: str) -> str | None:
    country, _, number = to.partition("-")
    return e164(country, number)


def _people(directory: Path, report: Report) -> tuple[dict[str, Person], dict[str, str]]:
    """People by Opsgenie user id, and user id by username (references use either)."""
    people: dict[str, Person] = {}
    by_username: dict[str, str] = {}
    taken: set[str] = set()
    for user in _load(directory, "users.json"):
        uid, username = str(user.get("id", "")), str(user.get("username", ""))
        if not uid or not username:
            raise ImportProblem(f"{directory / 'users.json'}: a user without id or username: {user}")
        name = unique(username.split("@", 1)[0], taken)
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


def _duration(amount: Any, unit: Any) -> timedelta:
    return {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}.get(
        str(unit), timedelta(minutes=1)
    ) * int(amount or 0)


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
            f"name: {unique(title, taken)}",
            "acknowledgement: {mode: single}",
            "steps:",
        ]
        for index, delay in enumerate(delays):
            last = index + 1 == len(delays)
            within = (delays[index + 1] - delay) if not last else (wait or LAST_STEP)
            if within <= timedelta():
                within = LAST_STEP
            notify = ", ".join(q(t) for t in steps[delay])
            lines.append(f"  - {{notify: [{notify}], channels: [sms, voice], ack_within: {minutes(within)}}}")
        count = int(repeat.get("count") or 0)
        if count:
            lines.append(f"repeat: {min(count, 100)}")
        if repeat.get("closeAlertAfterAll"):
            report.add(where, "closeAlertAfterAll", "not carried over: incidents stay open until someone resolves them")
        written[unique(title, set())] = "\n".join(lines) + "\n"
    return written


def translate(directory: Path, now: datetime, report: Report) -> Written:
    people, by_username = _people(directory, report)
    rosters = _rosters(directory, people, by_username, report, now)
    policies = _policies(directory, people, by_username, rosters, report)
    if not policies:
        raise ImportProblem(f"{directory / 'escalations.json'}: no escalation could be imported (a policy is needed)")
    first = sorted(policies)[0]
    report.add("routing", "Opsgenie's integrations, alert policies and team routing rules", f"one route to {first}")
    return Written(
        people=list(people.values()),
        rosters={name: text for name, text, _ in rosters.values()},
        policies=policies,
        sources=[
            "  # Tools that sent to Opsgenie: base URL <memoguard>/api/v1/integrations/opsgenie,"
            " this token as GenieKey.",
            "  opsgenie: {kind: opsgenie, token_env: MEMOGUARD_OPSGENIE_TOKEN}",
        ],
        routes=[f"  - {{policy: {first}}}   # Opsgenie routes alerts by integration and team: write your routes here"],
    )


def fetch(url: str, key: str, target: Path) -> None:
    """Save Opsgenie's answers under ``target`` in the layout ``--from-dir`` reads."""
    refused = "it needs read access (a GenieKey)"
    with Api("Opsgenie", url, {"Authorization": f"GenieKey {key}"}, refused) as api:

        def save(name: str, data: Any) -> None:
            save_json(target / name, {"data": data})

        users = api.linked("/v2/users", "data", {"limit": "100"})
        save("users.json", users)
        for user in users:
            save(f"contacts/{user.get('id')}.json", api.linked(f"/v2/users/{user.get('id')}/contacts", "data"))
        save(
            "teams.json",
            [api.get(f"/v2/teams/{team.get('id')}").get("data") for team in api.linked("/v2/teams", "data")],
        )
        schedules = api.linked("/v2/schedules", "data", {"expand": "rotation"})
        save("schedules.json", schedules)
        for schedule in schedules:
            sid = schedule.get("id")
            save(f"overrides/{sid}.json", api.linked(f"/v2/schedules/{sid}/overrides", "data"))
        save("escalations.json", api.linked("/v2/escalations", "data"))


def compare(directory: Path, output: Path, start: datetime, end: datetime, live: tuple[str, str] | None) -> list[str]:
    """Opsgenie has no rendering of a period in its API: its saved rotations are evaluated (``live`` unused)."""
    del live
    people, by_username = _people(directory, Report("Opsgenie"))
    names = {uid: person.name for uid, person in people.items()}
    names.update({username: people[uid].name for username, uid in by_username.items()})
    return opsgenie_rules.compare(directory, output, start, end, names, _load)


command = make_command(
    Vendor(
        title="Opsgenie",
        command="opsgenie",
        export=EXPORT,
        url="https://api.opsgenie.com",
        url_help="Opsgenie's API (EU accounts: https://api.eu.opsgenie.com).",
        key_help="Read Opsgenie's API instead, with the key in this file (an API integration's key, read access).",
        dir_help="Opsgenie's API answers saved as JSON: users.json, contacts/<id>.json, teams.json, schedules.json "
        "(?expand=rotation), overrides/<schedule id>.json, escalations.json.",
        fetch=fetch,
        translate=translate,
        compare=compare,
    ),
    """Import Opsgenie's users, schedules (rotations, restrictions, overrides) and escalations.

    Writes OUTPUT/memoguard.yaml, rosters/, escalation_policies/ and IMPORT-REPORT.md (also printed):
    every object or setting that did not carry over, and what was done instead. Run `memoguard check
    OUTPUT` next.
    """,
)
