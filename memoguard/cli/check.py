"""``memoguard check``: validate the whole configuration and summarise it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from memoguard import bootstrap
from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json
from memoguard.cli.roster import double_duty, double_duty_warnings
from memoguard.cli.when import AT_HELP, days_later, resolve_when
from memoguard.config.model import HEARTBEAT_SEVERITY, Config, heartbeat_labels
from memoguard.domain.duration import format_duration
from memoguard.domain.policy import Policy
from memoguard.domain.route import Route, first_match


@click.command()
@click.argument("config_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3660),
    help="How many days ahead rosters are looked at for warnings.",
)
@click.option("--from", "start_text", metavar="WHEN", help=AT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def check(app: AppContext, config_dir: Path | None, days: int, start_text: str | None, as_json: bool) -> None:
    """Validate CONFIG_DIR (default: --config) and print a summary, or every problem found.

    Warnings (someone on call at two levels of a roster at once, over the coming --days; a provider
    secret that cannot be read here) are printed on stderr. Exit code 0 when the configuration is
    valid, warnings or not; 1 when it has problems.
    """
    if config_dir is not None:
        app.config_dir = config_dir
    config = app.config()
    start = resolve_when(start_text, app.clock.now(), config.timezone, "--from")
    doubled = double_duty(config.rosters.values(), start, days_later(start, days, config.timezone))
    # A secret that cannot be read here is not a problem of the configuration (check may run where the
    # secrets are not), but serve would refuse to start on it.
    secrets = [
        f"warning: {problem}: `memoguard serve` refuses to start without it"
        for problem in bootstrap.secret_problems(config)
    ]
    if as_json:
        emit_json(_summary(config) | {"warnings": double_duty_warnings(doubled, config, start, days) + secrets})
        return
    for line in [*double_duty_warnings(doubled, config, start, days), *secrets]:
        click.echo(line, err=True)
    out = console()
    people = Table(title="People")
    for column in ("name", "phone", "e-mail", "language", "channels"):
        people.add_column(column)
    for person in config.people.values():
        people.add_row(
            person.name + (" (admin)" if person.admin else ""),
            person.phone or "-",
            person.email or "-",
            person.language,
            ", ".join(person.channels) or "-",
        )
    rosters = Table(title="Rosters")
    for column in ("name", "time zone", "layers", "levels", "overrides"):
        rosters.add_column(column)
    for roster in config.rosters.values():
        rosters.add_row(
            roster.name,
            str(roster.timezone),
            ", ".join(layer.name for layer in roster.layers),
            ", ".join(roster.level_names),
            str(len(roster.overrides)),
        )
    policies = Table(title="Escalation policies")
    for column in ("name", "acknowledgement", "steps", "repeat", "crisis cell"):
        policies.add_column(column)
    for policy in config.policies.values():
        policies.add_row(policy.name, _ack(policy), _steps(policy), str(policy.repeat), _crisis(policy))
    routes = Table(title="Routes (first match wins)")
    for column in ("#", "match", "policy", "resolve"):
        routes.add_column(column)
    for index, route in enumerate(config.routes, start=1):
        routes.add_row(str(index), _match(route), route.policy, "yes" if route.resolve else "no")
    tables = [people, rosters, policies, routes]
    if beats := _heartbeats(config):
        heartbeats = Table(title="Heartbeats (a ping expected at POST /api/v1/heartbeats/NAME)")
        for column in ("name", "every", "grace", "when missed, policy"):
            heartbeats.add_column(column)
        for name, beat in beats.items():
            heartbeats.add_row(name, str(beat["every"]), str(beat["grace"]), str(beat["policy"]))
        tables.append(heartbeats)
    if config.silences:
        silences = Table(title="Recurring silences (run-time ones: memoguard silence list)")
        for column in ("id", "every", "match", "comment"):
            silences.add_column(column)
        for silence in _silences(config):
            silences.add_row(*(str(silence[key]) for key in ("id", "every", "match", "comment")))
        tables.append(silences)
    for table in tables:
        out.print(table)
    out.print(f"[green]Configuration in {config.directory} is valid.[/green]")


def _ack(policy: Policy) -> str:
    rule = policy.ack
    parts = [rule.mode.value]
    if rule.confirm_within:
        parts.append(f"confirm within {format_duration(rule.confirm_within)}")
    if rule.quorum > 1:
        parts.append(f"quorum {rule.quorum}")
    if rule.reack_after:
        parts.append(f"re-ack after {format_duration(rule.reack_after)}")
    return ", ".join(parts)


def _steps(policy: Policy) -> str:
    return "\n".join(
        f"{index}. {' + '.join(str(t) for t in step.targets)} "
        f"({', '.join(step.channels)}; ack within {format_duration(step.ack_within)})"
        for index, step in enumerate(policy.steps, start=1)
    )


def _crisis(policy: Policy) -> str:
    cell = policy.crisis_cell
    if cell is None:
        return "-"
    text = f"{', '.join(cell.members)} (quorum {cell.quorum})"
    return text + (f"\nbridge {cell.bridge}" if cell.bridge else "")


def _match(route: Route) -> str:
    parts = []
    if route.sources:
        parts.append("source=" + "|".join(sorted(route.sources)))
    if route.severities:
        parts.append("severity=" + "|".join(sorted(route.severities)))
    parts.extend(f"{key}={value}" for key, value in route.labels)
    return " ".join(parts) or "everything"


def _summary(config: Config) -> dict[str, Any]:
    return {
        "valid": True,
        "directory": str(config.directory),
        "people": sorted(config.people),
        "rosters": {
            name: {
                "timezone": str(r.timezone),
                "levels": list(r.level_names),
                "layers": [layer.name for layer in r.layers],
            }
            for name, r in config.rosters.items()
        },
        "policies": {
            name: {"acknowledgement": p.ack.mode.value, "steps": len(p.steps), "repeat": p.repeat}
            for name, p in config.policies.items()
        },
        "routes": [{"match": _match(route), "policy": route.policy} for route in config.routes],
        "heartbeats": _heartbeats(config),
        "silences": _silences(config),
    }


def _heartbeats(config: Config) -> dict[str, dict[str, str]]:
    """Each heartbeat, and the policy its miss goes to (the loader refuses one that no route takes)."""
    found = {}
    for name, (every, grace) in sorted(config.heartbeats().items()):
        route = first_match(config.routes, name, HEARTBEAT_SEVERITY, heartbeat_labels(name))
        found[name] = {
            "every": format_duration(every),
            "grace": format_duration(grace),
            "policy": route.policy if route is not None else "-",
        }
    return found


def _silences(config: Config) -> list[dict[str, str]]:
    return [
        {
            "id": s.id,
            "every": s.every.describe() if s.every is not None else "-",
            "match": s.matcher.describe(),
            "comment": s.comment,
        }
        for s in config.silences
    ]
