"""``memoguard override add|list|remove``: on-call overrides kept in the database, without editing YAML."""

from __future__ import annotations

from datetime import tzinfo

import click
from rich.markup import escape
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json, show_duration, show_time
from memoguard.cli.when import resolve_when
from memoguard.domain.roster import PRIMARY, Roster
from memoguard.services.error import Invalid, NotFound
from memoguard.services.record import StoredOverride

WHEN_HELP = "'now', '+2h', 'YYYY-MM-DD HH:MM' in the roster's time zone, or ISO 8601 with an offset."


@click.group()
def override() -> None:
    """Overrides stored in the database: someone else takes a stretch of a roster.

    They act at once, without a restart or a YAML edit: `oncall`, `roster show`, the API and the
    escalation of incidents already open (their next page) all see them.
    """


def _roster(app: AppContext, name: str) -> Roster:
    try:
        return app.config().roster(name)
    except LookupError as error:
        raise click.UsageError(str(error.args[0])) from None


@override.command()
@click.argument("roster")
@click.option("--who", required=True, metavar="PERSON", help="Who is on call instead.")
@click.option("--from", "start_text", required=True, metavar="WHEN", help=f"Start: {WHEN_HELP}")
@click.option("--to", "end_text", required=True, metavar="WHEN", help=f"End (exclusive): {WHEN_HELP}")
@click.option("--level", "-l", default=PRIMARY, show_default=True, help="The level taken over.")
@click.option("--note", default="", help="Why, for the record.")
@pass_app
def add(app: AppContext, roster: str, who: str, start_text: str, end_text: str, level: str, note: str) -> None:
    """Put PERSON on call for ROSTER (at --level) from --from to --to, above every layer."""
    item = _roster(app, roster)
    now = app.clock.now()
    start = resolve_when(start_text, now, item.timezone, "--from")
    end = resolve_when(end_text, now, item.timezone, "--to")
    if end <= start:
        zone = item.timezone
        raise click.UsageError(
            f"--to ({show_time(end, zone)}) must be after --from ({show_time(start, zone)}), {zone} time"
        )
    try:
        number = app.application().overrides.add(item.name, who, start, end, level, note)
    except Invalid as error:
        raise click.UsageError(str(error)) from None
    zone = item.timezone
    console().print(
        f"Override #{number} added: {who} is on call for {item.name}/{level}"
        f" from {show_time(start, zone)} to {show_time(end, zone)} ({zone}, {show_duration(end - start)})"
    )


@override.command("list")
@click.argument("roster", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def list_overrides(app: AppContext, roster: str | None, as_json: bool) -> None:
    """The overrides stored in the database, for ROSTER or every roster (those in YAML are in `check`)."""
    if roster is not None:
        _roster(app, roster)
    found = app.application().overrides.list(roster)
    if as_json:
        emit_json({"overrides": [_json(o) for o in found]})
        return
    if not found:
        console().print(f"No overrides stored for {roster}." if roster else "No overrides stored.")
        return
    config = app.config()
    now = app.clock.now()
    table = Table(title="Overrides in the database (times in each roster's time zone)")
    for column in ("id", "roster", "level", "who", "from", "to", "length", "note"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for o in found:
        zone: tzinfo = config.rosters[o.roster].timezone if o.roster in config.rosters else config.timezone
        style = "dim" if o.end <= now else ""
        table.add_row(
            f"#{o.id}",
            o.roster,
            o.level,
            o.who,
            show_time(o.start, zone),
            show_time(o.end, zone),
            show_duration(o.end - o.start) + (" (past)" if o.end <= now else ""),
            escape(o.note),
            style=style,
        )
    console().print(table)


@override.command()
@click.argument("override_id", metavar="ID", type=int)
@pass_app
def remove(app: AppContext, override_id: int) -> None:
    """Delete override ID (see `override list`). Exit code 1 when there is no such override."""
    try:
        removed = app.application().overrides.remove(override_id)
    except NotFound as error:
        raise click.ClickException(str(error)) from None
    config = app.config()
    zone = config.rosters[removed.roster].timezone if removed.roster in config.rosters else config.timezone
    console().print(
        f"Override #{removed.id} removed: {removed.who} on {removed.roster}/{removed.level}"
        f" from {show_time(removed.start, zone)} to {show_time(removed.end, zone)} ({zone})"
    )


def _json(o: StoredOverride) -> dict[str, object]:
    return {
        "id": o.id,
        "roster": o.roster,
        "level": o.level,
        "who": o.who,
        "start": o.start,
        "end": o.end,
        "note": o.note,
        "created_at": o.created_at,
    }
