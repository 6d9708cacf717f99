"""``memoguard import pagerduty``: PagerDuty's users, schedules, escalation policies and services as
memoguard's configuration directory and IMPORT-REPORT.md.

The input is PagerDuty's REST API v2 (``Authorization: Token token=…``, ``Accept:
application/vnd.pagerduty+json;version=2``, lists paged by ``offset``/``limit`` while ``more``), saved as
``users.json`` (GET /users?include[]=contact_methods), ``schedules.json`` (GET /schedules),
``schedules/<id>.json`` (GET /schedules/{id}, with its layers and ``final_schedule``),
``overrides/<id>.json`` (GET /schedules/{id}/overrides), ``escalation_policies.json`` and
``services.json``, each in the API's own envelope. The rules, each chosen so that the same people are on
call:

- A user is a person named after the local part of their e-mail, with their time zone and language
  (``locale`` ``fr-…`` is French, anything else English); their phone is the first phone or SMS contact
  method (``+country_code`` and ``address``), their channels sms/voice/email as they have those methods. A
  user without a phone is reported (e-mail only), as are push notifications and notification rules.
- A schedule is a roster in its zone; each layer a memoguard layer, lowest first (a GET answers the
  highest layer first: a later memoguard layer beats an earlier one, as a higher PagerDuty layer does).
  ``rotation_turn_length_seconds`` is the shift, ``rotation_virtual_start`` (read in the schedule's zone)
  the first handoff, kept at its wall-clock time across DST; daily and weekly restrictions are the
  layer's ``active`` windows (across midnight or days as memoguard's windows run). Layers that ended are
  left out, a layer's ``end`` in the future is reported.
- An override ending in the future is a roster override; it beats every layer, as in PagerDuty.
- An escalation policy is a policy: each rule a step paging its targets (a schedule's roster, users),
  ``escalation_delay_in_minutes`` its ``ack_within``, ``num_loops`` the repeats. The policy's teams, and
  hand-off notifications, are reported.
- A service is a ``generic`` source with a route to its policy; urgency rules, support hours and the
  acknowledgement and auto-resolve timeouts are reported (memoguard pages every incident the same way).

``--compare DAYS`` reads PagerDuty's own rendering, ``final_schedule.rendered_schedule_entries`` of GET
/schedules/{id}?since&until (from the API, or the saved ``schedules/<id>.json``), against the rosters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from memoguard import bootstrap
from memoguard.cli.importer import pagerduty_rosters
from memoguard.cli.importer.api import Api
from memoguard.cli.importer.command import Vendor, make_command
from memoguard.cli.importer.common import (
    ImportProblem,
    Person,
    Report,
    Written,
    e164,
    instant,
    listing,
    load_json,
    origin,
    q,
    save_json,
)
from memoguard.cli.importer.common import name as unique
from memoguard.cli.importer.compare import Entry, disagreements

EXPORT = "pagerduty-export"
CHANNEL = {"sms_contact_method": "sms", "phone_contact_method": "voice", "email_contact_method": "email"}


def _load(directory: Path, name: str, key: str, required: bool = True) -> list[dict[str, Any]]:
    path = directory / name
    document = load_json(path, required)
    return [] if document is None else listing(document, key, str(path))


def _schedule(directory: Path, sid: str) -> dict[str, Any]:
    path = directory / "schedules" / f"{sid}.json"
    document = load_json(path)
    schedule = document.get("schedule") if isinstance(document, dict) else None
    if not isinstance(schedule, dict):
        raise ImportProblem(f'{path}: expected PagerDuty\'s envelope {{"schedule": {{ … }}}}')
    return schedule


def _people(directory: Path, report: Report) -> dict[str, Person]:
    people: dict[str, Person] = {}
    taken: set[str] = set()
    for user in _load(directory, "users.json", "users"):
        uid, email = str(user.get("id") or ""), str(user.get("email") or "")
        if not uid or not email:
            raise ImportProblem(f"{directory / 'users.json'}: a user without id or email: {user.get('id')}")
        phone, channels = None, []
        for method in user.get("contact_methods") or []:
            kind = str(method.get("type"))
            if kind not in CHANNEL:
                report.add(f"user {email}", f"contact method {kind} ({method.get('label')})", "left out")
                continue
            if kind != "email_contact_method" and phone is None:
                phone = e164(str(method.get("country_code") or ""), str(method.get("address") or ""))
            if CHANNEL[kind] not in channels:
                channels.append(CHANNEL[kind])
        channels = [c for c in ("sms", "voice", "email") if c in channels]
        if phone is None:
            channels = ["email"]
            report.add(f"user {email}", "no phone or SMS contact method", "a person without a phone: e-mail only")
        if "contact_methods" not in user:
            report.add(
                f"user {email}", "no contact methods in the saved answer", "read users with include[]=contact_methods"
            )
        language = "fr" if str(user.get("locale") or "").lower().startswith("fr") else "en"
        source = f"PagerDuty user {user.get('name')} <{email}> ({uid})"
        person = Person(unique(email.split("@", 1)[0], taken), source, phone, email, channels, user.get("time_zone"))
        person.language = language
        people[uid] = person
    if not people:
        raise ImportProblem(f"{directory / 'users.json'}: no users")
    report.add(
        "every user",
        "PagerDuty's notification rules (which contact method after how long, high and low urgency)",
        "each person is paged on their channels in the order sms, voice, email as the policy's steps say",
    )
    return people


def _policies(
    directory: Path, people: dict[str, Person], rosters: dict[str, str], report: Report
) -> tuple[dict[str, str], dict[str, str]]:
    """Policy YAML text by file name, and the policy's name by PagerDuty id."""
    written: dict[str, str] = {}
    by_id: dict[str, str] = {}
    taken: set[str] = set()
    for policy in _load(directory, "escalation_policies.json", "escalation_policies"):
        pid, title = str(policy.get("id")), str(policy.get("name") or "")
        where = f"escalation policy {title}"
        steps = []
        for rule in policy.get("escalation_rules") or []:
            targets = []
            for target in rule.get("targets") or []:
                kind, tid = target.get("type"), str(target.get("id"))
                if kind in ("schedule_reference", "schedule") and tid in rosters:
                    targets.append(f"roster:{rosters[tid]}")
                elif kind in ("user_reference", "user") and tid in people:
                    targets.append(f"person:{people[tid].name}")
                else:
                    report.add(
                        where, f"a rule's target {kind} {target.get('summary') or tid}", "left out (not imported)"
                    )
            if not targets:
                report.add(where, f"rule {rule.get('id')}: no target imported", "left out")
                continue
            delay = int(rule.get("escalation_delay_in_minutes") or 30)
            notify = ", ".join(q(t) for t in targets)
            steps.append(f"  - {{notify: [{notify}], channels: [sms, voice], ack_within: {max(1, delay)}m}}")
        if not steps:
            report.add(where, "no rule could be mapped", "no policy written")
            continue
        file = unique(title, taken)
        lines = [f"# From PagerDuty escalation policy {title!r} ({pid})", f"name: {file}", "steps:", *steps]
        if int(policy.get("num_loops") or 0):
            lines.append(f"repeat: {min(int(policy['num_loops']), 100)}")
        for team in policy.get("teams") or []:
            report.add(where, f"belongs to team {team.get('summary') or team.get('id')}", "teams are not kept")
        if policy.get("on_call_handoff_notifications") not in (None, "if_has_services"):
            report.add(where, f"hand-off notifications {policy['on_call_handoff_notifications']}", "not sent")
        written[file] = "\n".join(lines) + "\n"
        by_id[pid] = file
    return written, by_id


def _services(directory: Path, policies: dict[str, str], report: Report) -> tuple[list[str], list[str]]:
    sources, routes = [], []
    taken: set[str] = set()
    for service in _load(directory, "services.json", "services", required=False):
        title, sid = str(service.get("name") or ""), str(service.get("id"))
        where = f"service {title}"
        name = unique(title, taken)
        variable = "MEMOGUARD_" + name.upper().replace("-", "_").replace(".", "_") + "_TOKEN"
        sources.append(f"  {name}: {{kind: generic, token_env: {variable}}}   # PagerDuty service {title!r} ({sid})")
        policy = policies.get(str((service.get("escalation_policy") or {}).get("id")))
        if policy:
            routes.append(f"  - {{match: {{source: {name}}}, policy: {policy}}}")
        else:
            report.add(where, "its escalation policy was not imported", "no route")
        rule = service.get("incident_urgency_rule") or {}
        if rule and not (rule.get("type") == "constant" and rule.get("urgency") == "high"):
            report.add(
                where, f"urgency rule {rule.get('type')} ({json_short(rule)})", "every incident pages (high urgency)"
            )
        if service.get("support_hours"):
            report.add(where, "support hours", "none: the policy pages at any hour")
        for key in ("acknowledgement_timeout", "auto_resolve_timeout"):
            if service.get(key):
                report.add(where, f"{key} {service[key]} s", "not carried over")
        if service.get("integrations"):
            report.add(
                where,
                f"{len(service['integrations'])} integration(s) (Events API keys)",
                f"senders post memoguard's alarm shape to the source {name}",
            )
    return sources, routes


def json_short(value: Any) -> str:
    return ", ".join(f"{k}: {v.get('urgency') if isinstance(v, dict) else v}" for k, v in value.items() if k != "type")


def translate(directory: Path, now: datetime, report: Report) -> Written:
    people = _people(directory, report)
    schedules = [_schedule(directory, str(s.get("id"))) for s in _load(directory, "schedules.json", "schedules")]
    overrides = {
        str(s.get("id")): _load(directory, f"overrides/{s.get('id')}.json", "overrides", required=False)
        for s in schedules
    }
    rosters = pagerduty_rosters.rosters(schedules, overrides, people, report, now)
    policies, by_id = _policies(directory, people, {sid: name for sid, (name, _) in rosters.items()}, report)
    sources, routes = _services(directory, by_id, report)
    if not routes and policies:
        routes = [f"  - {{policy: {sorted(policies)[0]}}}   # no service could be mapped: write your routes here"]
    return Written(
        people=list(people.values()),
        rosters=dict(rosters.values()),
        policies=policies,
        sources=sources or ["  # no service was imported"],
        routes=routes,
    )


def _api(url: str, key: str) -> Api:
    headers = {"Authorization": f"Token token={key}", "Accept": "application/vnd.pagerduty+json;version=2"}
    return Api("PagerDuty", url, headers, "give a REST API key (read-only is enough)")


def fetch(url: str, key: str, target: Path) -> None:
    now = datetime.now(UTC)
    with _api(url, key) as api:
        users = api.offset("/users", "users", [("include[]", "contact_methods")])
        save_json(target / "users.json", {"users": users})
        schedules = api.offset("/schedules", "schedules")
        save_json(target / "schedules.json", {"schedules": schedules})
        window = [
            ("since", (now - timedelta(days=365)).isoformat()),
            ("until", (now + timedelta(days=730)).isoformat()),
        ]
        for schedule in schedules:
            sid = schedule.get("id")
            save_json(target / "schedules" / f"{sid}.json", api.get(f"/schedules/{sid}"))
            found = api.get(f"/schedules/{sid}/overrides", window).get("overrides") or []
            save_json(target / "overrides" / f"{sid}.json", {"overrides": found})
        for name in ("escalation_policies", "services"):
            save_json(target / f"{name}.json", {name: api.offset(f"/{name}", name)})


def compare(directory: Path, output: Path, start: datetime, end: datetime, live: tuple[str, str] | None) -> list[str]:
    """PagerDuty's final schedule against memoguard's roster code on the written YAML."""
    config = bootstrap.load(output)
    names = {uid: person.name for uid, person in _people(directory, Report("PagerDuty")).items()}
    lines: list[str] = []
    for listed in _load(directory, "schedules.json", "schedules"):
        sid = str(listed.get("id"))
        roster = next((r for r in config.rosters.values() if f"({sid})" in origin(output, r.name)), None)
        if roster is None:
            lines.append(f"schedule {listed.get('name')!r}: no roster was written for it")
            continue
        if live is not None:
            with _api(*live) as api:
                window = [("since", start.isoformat()), ("until", end.isoformat())]
                save_json(directory / "schedules" / f"{sid}.json", api.get(f"/schedules/{sid}", window))
        where = f"final_schedule of {sid}"
        rendered = (_schedule(directory, sid).get("final_schedule") or {}).get("rendered_schedule_entries") or []
        entries = [
            Entry(
                instant(e.get("start"), where),
                instant(e.get("end"), where),
                names.get(str((e.get("user") or {}).get("id")), f"?{(e.get('user') or {}).get('id')}"),
            )
            for e in rendered
        ]
        lines += disagreements(roster, roster.level_names, entries, start, end, "PagerDuty")
    return lines


command = make_command(
    Vendor(
        title="PagerDuty",
        command="pagerduty",
        export=EXPORT,
        url="https://api.pagerduty.com",
        url_help="PagerDuty's REST API (EU accounts: https://api.eu.pagerduty.com).",
        key_help="Read PagerDuty's REST API v2 instead, with the API key in this file (read-only is enough).",
        dir_help="PagerDuty's API answers saved as JSON: users.json (include[]=contact_methods), schedules.json, "
        "schedules/<id>.json (with final_schedule for --compare), overrides/<id>.json, escalation_policies.json, "
        "services.json.",
        fetch=fetch,
        translate=translate,
        compare=compare,
    ),
    """Import PagerDuty's users, schedules (layers, restrictions, overrides), escalation policies and
    services.

    Writes OUTPUT/memoguard.yaml, rosters/, escalation_policies/ and IMPORT-REPORT.md (also printed):
    every object or setting that did not carry over, and what was done instead. Run `memoguard check
    OUTPUT` next.
    """,
)
