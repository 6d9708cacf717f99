"""``memoguard silence add|list|remove``: maintenance windows at run time, beside memoguard.yaml's.

The CLI runs with the database's own credentials, like ``memoguard token``: it acts as an operator
(the audit says ``cli`` and the host user), not as a person of memoguard.yaml.
"""

from __future__ import annotations

from datetime import datetime

import click
from rich.markup import escape
from rich.table import Table

from memoguard.cli.access import _cli
from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json, show_duration, show_time
from memoguard.cli.when import resolve_when
from memoguard.domain.duration import parse_duration
from memoguard.domain.errors import InvalidValueError
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.silences import parse_matches


@click.group()
def silence() -> None:
    """Maintenance windows: alarms they match open silenced incidents, which page nobody.

    A silenced incident still open when its window ends escalates then; one resolved before never
    paged anyone. Recurring windows are declared in memoguard.yaml (`silences:`).
    """


@silence.command()
@click.option(
    "--match",
    "matches",
    multiple=True,
    required=True,
    metavar="KEY=VALUE",
    help="source=NAME, severity=S, or a label (host=db1); repeatable, all must match.",
)
@click.option("--for", "length", required=True, metavar="DURATION", help="How long: 30m, 2h, 1d.")
@click.option("--comment", required=True, help="Why: shown on every incident it holds.")
@click.option(
    "--from",
    "start_text",
    default="now",
    show_default=True,
    metavar="WHEN",
    help="Start: 'now', '+2h', 'YYYY-MM-DD HH:MM' (memoguard.yaml's zone) or ISO 8601.",
)
@pass_app
def add(app: AppContext, matches: tuple[str, ...], length: str, comment: str, start_text: str) -> None:
    """Add a maintenance window."""
    try:
        duration = parse_duration(length)
    except InvalidValueError as error:
        raise click.BadParameter(str(error), param_hint="--for") from None
    zone = app.config().timezone
    start = resolve_when(start_text, app.clock.now(), zone, "--from")
    try:
        made = app.application().silences.add(parse_matches(list(matches)), duration, comment, _cli(), start)
    except Invalid as error:
        raise click.UsageError(str(error)) from None
    assert made.starts_at is not None and made.ends_at is not None
    console().print(
        f"Silence {made.id} added: {made.matcher.describe()} from {show_time(made.starts_at, zone)}"
        f" to {show_time(made.ends_at, zone)} ({zone}, {show_duration(duration)})"
    )


@silence.command("list")
@click.option("--all", "everything", is_flag=True, help="Past and removed silences too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def list_silences(app: AppContext, everything: bool, as_json: bool) -> None:
    """memoguard.yaml's recurring windows, then the stored ones not over yet."""
    found = app.application().silences.list(everything)
    if as_json:
        emit_json({"silences": [view.describe() for view in found]})
        return
    if not found:
        console().print("No silences.")
        return
    zone = app.config().timezone

    def when(at: datetime | None) -> str:
        return "-" if at is None else show_time(at, zone)

    table = Table(title=f"Silences (times {zone}; for a recurring one, this or the next occurrence)")
    for column in ("id", "match", "from", "to", "state", "by", "comment"):
        table.add_column(column)
    for view in found:
        s = view.silence
        state = "removed" if s.removed_at else "active" if view.active else "recurring" if s.every else "pending"
        if view.window is None or (not view.active and s.every is None and view.window[1] <= app.clock.now()):
            state = "removed" if s.removed_at else "over"
        start, end = view.window or (None, None)
        table.add_row(
            s.id, escape(s.matcher.describe()), when(start), when(end), state, s.created_by or "yaml", escape(s.comment)
        )
    console().print(table)


@silence.command()
@click.argument("silence_id", metavar="ID")
@pass_app
def remove(app: AppContext, silence_id: str) -> None:
    """Remove silence ID: it holds no new alarm, and incidents no other window holds escalate now."""
    try:
        removed = app.application().silences.remove(silence_id, _cli())
    except (NotFound, Refused) as error:
        raise click.ClickException(str(error)) from None
    console().print(f"Silence {removed.id} removed: {removed.matcher.describe()} ({escape(removed.comment)})")
