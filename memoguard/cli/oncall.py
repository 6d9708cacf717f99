"""``memoguard oncall``: who is on call now, or at a given time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json, show_time
from memoguard.cli.when import AT_HELP, resolve_when
from memoguard.domain.errors import UnknownLevelError
from memoguard.domain.roster import Roster
from memoguard.services.oncall import stretch


@click.command()
@click.argument("roster", required=False)
@click.option("--level", "-l", help="Only this level (primary, secondary…). Default: every level.")
@click.option("--at", "when", metavar="WHEN", help=AT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def oncall(app: AppContext, roster: str | None, level: str | None, when: str | None, as_json: bool) -> None:
    """Who is on call for ROSTER (default: every roster), now or --at a time.

    Overrides stored in the database (`memoguard override add`) count: their source reads "override #ID".
    """
    config = app.config()
    try:
        named = config.roster(roster) if roster else None
    except LookupError as error:
        raise click.UsageError(str(error.args[0])) from None
    zone = named.timezone if named else config.timezone
    at = resolve_when(when, app.clock.now(), zone)
    merged = app.rosters()
    rosters = [merged[named.name]] if named else list(merged.values())
    rows = []
    for item in rosters:
        levels = [level] if level else list(item.level_names)
        for name in levels:
            rows.append(_row(item, name, at))
    if as_json:
        emit_json({"at": at, "oncall": rows})
        return
    table = Table(title=f"On call at {show_time(at, zone)} ({zone})")
    for column in ("roster", "level", "person", "from", "until", "source"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["roster"],
            row["level"],
            row["person"] or "[red]nobody (gap)[/red]",
            show_time(row["from"], zone) if row["from"] else "-",
            show_time(row["until"], zone) if row["until"] else "-",
            row["source"] or "-",
        )
    console().print(table)


def _row(roster: Roster, level: str, at: datetime) -> dict[str, Any]:
    try:
        return stretch(roster, level, at)
    except UnknownLevelError as error:
        raise click.UsageError(str(error)) from None
