"""``memoguard import grafana-oncall``: Grafana OnCall's users, calendar schedules, escalation chains and
integration routes as memoguard's configuration directory and IMPORT-REPORT.md.

Grafana OnCall's open-source edition was archived in March 2026. The input is its public API v1 (the same
on Grafana Cloud and self-hosted, ``--url``; ``Authorization: <API key>``; lists paged by a ``next``
link), saved as ``users.json``, ``schedules.json``, ``on_call_shifts.json``, ``escalation_chains.json``,
``escalation_policies.json``, ``integrations.json`` and ``routes.json``, each the API's ``{"results": …}``
envelope with every page's results together. The rules, each chosen so that the same people are on call:

- A user is a person named after their username, with their e-mail and time zone. The public API does
  not give phone numbers; a ``verified_phone_number`` (as OnCall's own web API names it) is used when a
  saved file has one, and a user without is reported (e-mail only).
- A ``calendar`` schedule is a roster in its zone (``ical`` schedules and ``web`` ones without listed
  shifts are reported: their shifts are not in the API). Each ``rolling_users`` or ``recurrent_event``
  shift is a layer, ordered by ``level`` (Grafana's priority: the higher wins, as a later memoguard layer
  does): ``interval`` × ``frequency`` is the turn, ``start`` (wall-clock in the zone) the first handoff,
  the first user of each group the members in turn. A shift shorter than its turn, or limited to
  ``by_day``, is on for ``duration`` from its start time on those days: the layer's ``active`` windows.
- ``override`` and ``single_event`` shifts ending in the future are roster overrides (past ones reported).
- An escalation chain is a policy: notify steps up to a ``wait`` are one memoguard step whose
  ``ack_within`` is the wait; ``notify_on_call_from_schedule`` pages the roster, ``notify_persons`` the
  people, ``notify_team_members`` the team's users; ``repeat_escalation`` is ``repeat: 5`` (Grafana repeats
  five times); everything else (Slack user groups, webhooks, resolve, time and count conditions) is
  reported.
- An integration is a source (``alertmanager`` for Alertmanager integrations, ``generic`` otherwise) and
  its default route a memoguard route to its chain; routes by regex or Jinja2 template are reported.

``--compare DAYS`` reads Grafana OnCall's own rendering, ``/schedules/{id}/final_shifts`` (from the API,
or saved as ``final_shifts/<schedule id>.json``), against the written rosters.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from memoguard import bootstrap
from memoguard.cli.importer import grafana_rosters
from memoguard.cli.importer.api import Api
from memoguard.cli.importer.command import Vendor, make_command
from memoguard.cli.importer.common import (
    LAST_STEP,
    ImportProblem,
    Person,
    Report,
    Written,
    instant,
    listing,
    load_json,
    minutes,
    origin,
    q,
    save_json,
)
from memoguard.cli.importer.common import name as unique
from memoguard.cli.importer.compare import Entry, disagreements

EXPORT = "grafana-oncall-export"
LISTS = ["users", "schedules", "on_call_shifts", "escalation_chains", "escalation_policies", "integrations", "routes"]
REPEATS = 5  # Grafana OnCall's repeat_escalation repeats the chain up to five times


def _load(directory: Path, name: str, required: bool = True) -> list[dict[str, Any]]:
    path = directory / f"{name}.json"
    document = load_json(path, required)
    return [] if document is None else listing(document, "results", str(path))


def _people(directory: Path, report: Report) -> dict[str, Person]:
    people: dict[str, Person] = {}
    taken: set[str] = set()
    for user in _load(directory, "users"):
        uid, username = str(user.get("id") or ""), str(user.get("username") or "")
        if not uid or not username:
            raise ImportProblem(f"{directory / 'users.json'}: a user without id or username: {user}")
        email = str(user.get("email") or "") or None
        phone = str(user.get("verified_phone_number") or "") or None
        if phone is None:
            report.add(
                f"user {username}",
                "no verified phone number in the saved answers (Grafana OnCall's public API does not give one)",
                "a person without a phone: e-mail only; add their phone in memoguard.yaml",
            )
        channels = ["sms", "voice", "email"] if phone else ["email"]
        source = f"Grafana OnCall user {username} ({uid})"
        people[uid] = Person(unique(username, taken), source, phone, email, channels, user.get("timezone") or None)
    if not people:
        raise ImportProblem(f"{directory / 'users.json'}: no users")
    report.add(
        "every user",
        "Grafana OnCall's personal notification rules (default and important), mobile app and ChatOps "
        "(Slack, Telegram, MS Teams) accounts",
        "each person is paged by sms and voice when they have a phone, else by e-mail",
    )
    return people


def _targets(
    policy: dict[str, Any],
    people: dict[str, Person],
    rosters: dict[str, str],
    teams: dict[str, list[str]],
    report: Report,
    where: str,
) -> list[str]:
    """Who one notify step of a chain pages, as memoguard targets (none for a type without equivalent)."""
    targets: list[str] = []
    kind = str(policy.get("type"))
    if kind in ("notify_persons", "notify_person_next_each_time"):
        key = "persons_to_notify" if kind == "notify_persons" else "persons_to_notify_next_each_time"
        targets = [f"person:{people[u].name}" for u in policy.get(key) or [] if u in people]
        if kind == "notify_person_next_each_time":
            report.add(where, "notify_person_next_each_time (one person in turn per alert)", "all of them")
    elif kind == "notify_on_call_from_schedule":
        roster = rosters.get(str(policy.get("notify_on_call_from_schedule")))
        targets = [f"roster:{roster}"] if roster else []
    elif kind == "notify_team_members":
        team = str(policy.get("notify_to_team_members"))
        targets = [f"person:{member}" for member in teams.get(team, [])]
        report.add(where, f"a step to team {team}", "its members are paged together")
    return targets


def _policies(
    directory: Path, people: dict[str, Person], rosters: dict[str, str], report: Report
) -> tuple[dict[str, str], dict[str, str]]:
    """Policy YAML text by file name, and the policy's name by chain id."""
    written: dict[str, str] = {}
    by_chain: dict[str, str] = {}
    taken: set[str] = set()
    steps_of: dict[str, list[dict[str, Any]]] = {}
    for policy in _load(directory, "escalation_policies"):
        steps_of.setdefault(str(policy.get("escalation_chain_id")), []).append(policy)
    teams: dict[str, list[str]] = {}
    users = _load(directory, "users")
    for user in users:
        for team in user.get("teams") or []:
            if (person := people.get(str(user.get("id")))) is not None:
                teams.setdefault(str(team), []).append(person.name)
    for chain in _load(directory, "escalation_chains"):
        title, cid = str(chain.get("name") or ""), str(chain.get("id") or "")
        where = f"escalation chain {title}"
        steps: list[tuple[list[str], timedelta | None]] = []
        pending: list[str] = []
        repeat = 0
        for policy in sorted(steps_of.get(cid, []), key=lambda p: int(p.get("position") or 0)):
            kind = str(policy.get("type"))
            if policy.get("important"):
                report.add(where, f"step {policy.get('position')} is 'important'", "paged like any other step")
            if kind == "wait":
                wait = timedelta(seconds=int(policy.get("duration") or 0))
                if pending:
                    steps.append((pending, wait))
                    pending = []
                elif steps:
                    targets, before = steps[-1]
                    steps[-1] = (targets, (before or timedelta()) + wait)
                continue
            targets = _targets(policy, people, rosters, teams, report, where)
            if kind == "repeat_escalation":
                repeat = REPEATS
                continue
            if not targets:
                report.add(where, f"step {policy.get('position')} of type {kind}", "left out (no equivalent)")
                continue
            pending += [t for t in targets if t not in pending]
        if pending:
            steps.append((pending, None))
        if not steps:
            report.add(where, "no step could be mapped", "no policy written")
            continue
        file = unique(title, taken)
        lines = [f"# From Grafana OnCall escalation chain {title!r} ({cid})", f"name: {file}", "steps:"]
        for targets, pause in steps:
            notify = ", ".join(q(t) for t in targets)
            lines.append(
                f"  - {{notify: [{notify}], channels: [sms, voice], ack_within: {minutes(pause or LAST_STEP)}}}"
            )
        if repeat:
            lines.append(f"repeat: {repeat}")
            report.add(where, "repeat_escalation", f"repeat: {repeat} (the whole policy, as Grafana repeats)")
        written[file] = "\n".join(lines) + "\n"
        by_chain[cid] = file
    return written, by_chain


def _routes(directory: Path, chains: dict[str, str], report: Report) -> tuple[list[str], list[str]]:
    sources: list[str] = []
    routes: list[str] = []
    taken: set[str] = set()
    defaults: dict[str, str] = {}
    for route in _load(directory, "routes", required=False):
        owner, chain = str(route.get("integration_id")), str(route.get("escalation_chain_id"))
        if route.get("is_the_last_route"):
            defaults[owner] = chain
            continue
        report.add(
            f"route {route.get('id')} of integration {owner}",
            f"routing by {route.get('routing_type')} {route.get('routing_regex')!r}",
            "not carried over: memoguard matches labels exactly; write a route with `match: {labels: …}`",
        )
    for integration in _load(directory, "integrations", required=False):
        iid, title = str(integration.get("id")), str(integration.get("name") or "")
        kind = "alertmanager" if integration.get("type") in ("alertmanager", "grafana_alerting") else "generic"
        source = unique(title, taken)
        variable = "MEMOGUARD_" + source.upper().replace("-", "_").replace(".", "_") + "_TOKEN"
        sources.append(
            f"  {source}: {{kind: {kind}, token_env: {variable}}}   # Grafana OnCall integration {title!r} ({iid})"
        )
        if kind == "generic":
            report.add(
                f"integration {title}",
                f"type {integration.get('type')}",
                "a generic source: the sender must post memoguard's alarm shape (POST /api/v1/alarms)",
            )
        chain = defaults.get(iid) or str((integration.get("default_route") or {}).get("escalation_chain_id"))
        if chain in chains:
            routes.append(f"  - {{match: {{source: {source}}}, policy: {chains[chain]}}}   # its default route")
        else:
            report.add(f"integration {title}", "a default route without an imported escalation chain", "no route")
    if not routes:
        first = sorted(chains.values())[0] if chains else None
        if first:
            routes.append(f"  - {{policy: {first}}}   # no integration route could be mapped: write your routes here")
    return sources, routes


def translate(directory: Path, now: datetime, report: Report) -> Written:
    people = _people(directory, report)
    shifts = {str(s.get("id")): s for s in _load(directory, "on_call_shifts")}
    rosters = grafana_rosters.rosters(_load(directory, "schedules"), shifts, people, report, now)
    policies, chains = _policies(directory, people, {sid: name for sid, (name, _) in rosters.items()}, report)
    sources, routes = _routes(directory, chains, report)
    return Written(
        people=list(people.values()),
        rosters=dict(rosters.values()),
        policies=policies,
        sources=sources or ["  # no integration was imported"],
        routes=routes,
    )


def _api(url: str, key: str) -> Api:
    refused = "give an API key of Grafana OnCall (Settings, API keys) with read access"
    return Api("Grafana OnCall", url, {"Authorization": key}, refused)


def fetch(url: str, key: str, target: Path) -> None:
    with _api(url, key) as api:
        for name in LISTS:
            save_json(target / f"{name}.json", {"results": api.linked(f"/api/v1/{name}/", "results")})


def _rendering(directory: Path, sid: str, start: datetime, end: datetime, api: Api | None) -> list[dict[str, Any]]:
    path = directory / "final_shifts" / f"{sid}.json"
    if api is not None:
        first: date = (start - timedelta(days=1)).date()
        last: date = (end + timedelta(days=1)).date()
        params = {"start_date": first.isoformat(), "end_date": last.isoformat()}
        save_json(path, {"results": api.linked(f"/api/v1/schedules/{sid}/final_shifts", "results", params)})
    document = load_json(path, required=False)
    if document is None:
        raise ImportProblem(f"{path}: missing (GET /api/v1/schedules/{sid}/final_shifts, needed by --compare)")
    return listing(document, "results", str(path))


def compare(directory: Path, output: Path, start: datetime, end: datetime, live: tuple[str, str] | None) -> list[str]:
    """Grafana OnCall's final shifts against memoguard's roster code on the written YAML."""
    config = bootstrap.load(output)
    people = _people(directory, Report("Grafana OnCall"))
    names = {uid: person.name for uid, person in people.items()}
    api = _api(*live) if live else None
    lines: list[str] = []
    try:
        shifts = {str(s.get("id")): s for s in _load(directory, "on_call_shifts")}
        for schedule in _load(directory, "schedules"):
            if not grafana_rosters.mappable(schedule, shifts):
                continue  # reported when imported
            sid = str(schedule.get("id"))
            roster = next((r for r in config.rosters.values() if f"({sid})" in origin(output, r.name)), None)
            if roster is None:
                lines.append(f"schedule {schedule.get('name')!r}: no roster was written for it")
                continue
            where = f"final shifts of {sid}"
            entries = [
                Entry(
                    instant(s.get("shift_start"), where),
                    instant(s.get("shift_end"), where),
                    names.get(str(s.get("user_pk")), f"?{s.get('user_pk')}"),
                )
                for s in _rendering(directory, sid, start, end, api)
            ]
            lines += disagreements(roster, roster.level_names, entries, start, end, "Grafana OnCall")
    finally:
        if api is not None:
            api.__exit__(None, None, None)
    return lines


command = make_command(
    Vendor(
        title="Grafana OnCall",
        command="grafana-oncall",
        export=EXPORT,
        url="",
        url_help="Grafana OnCall's API (needed with --api-key-file): your self-hosted OnCall's URL, or the API "
        "URL shown in Grafana Cloud's OnCall settings.",
        key_help="Read Grafana OnCall's public API instead, with the API key in this file.",
        dir_help="Grafana OnCall's API answers saved as JSON ({'results': [...]}): users.json, schedules.json, "
        "on_call_shifts.json, escalation_chains.json, escalation_policies.json, integrations.json, routes.json; "
        "final_shifts/<schedule id>.json for --compare.",
        fetch=fetch,
        translate=translate,
        compare=compare,
    ),
    """Import Grafana OnCall's users, calendar schedules (shifts, priorities, overrides), escalation chains
    and integration routes.

    Writes OUTPUT/memoguard.yaml, rosters/, escalation_policies/ and IMPORT-REPORT.md (also printed):
    every object or setting that did not carry over, and what was done instead. Run `memoguard check
    OUTPUT` next.
    """,
)
