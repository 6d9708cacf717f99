"""``memoguard roster show`` and ``memoguard roster gaps``: coming shifts and uncovered periods."""

from __future__ import annotations

import click
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json, show_duration, show_time
from memoguard.cli.when import AT_HELP, days_later, resolve_when
from memoguard.domain.errors import UnknownLevelError

DAYS_HELP = "How many days ahead to look."


@click.group()
def roster() -> None:
    """Look at rosters: coming shifts and gaps in coverage."""


@roster.command()
@click.argument("name")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 3660), help=DAYS_HELP)
@click.option("--level", "-l", help="Only this level. Default: every level.")
@click.option("--from", "start_text", metavar="WHEN", help=AT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def show(app: AppContext, name: str, days: int, level: str | None, start_text: str | None, as_json: bool) -> None:
    """The shifts of roster NAME over the coming days, level by level, database overrides included."""
    config = app.config()
    try:
        item = config.roster(name)
    except LookupError as error:
        raise click.UsageError(str(error.args[0])) from None
    start = resolve_when(start_text, app.clock.now(), item.timezone, "--from")
    end = days_later(start, days, item.timezone)
    levels = [level] if level else list(item.level_names)
    if level is not None and level not in item.level_names:
        raise click.UsageError(f"roster {item.name!r} has no level {level!r} (levels: {', '.join(item.level_names)})")
    item = app.rosters()[item.name]
    try:
        per_level = {lv: item.segments(start, end, lv) for lv in levels}
    except UnknownLevelError as error:
        raise click.UsageError(str(error)) from None
    if as_json:
        emit_json(
            {
                "roster": item.name,
                "timezone": str(item.timezone),
                "from": start,
                "to": end,
                "levels": {
                    lv: [{"start": s.start, "end": s.end, "person": s.person, "source": s.source} for s in segments]
                    for lv, segments in per_level.items()
                },
            }
        )
        return
    out = console()
    for lv, segments in per_level.items():
        table = Table(
            title=f"{item.name} / {lv} — {days} days from {show_time(start, item.timezone)} ({item.timezone})"
        )
        for column in ("from", "to", "length", "person", "source"):
            table.add_column(column)
        for segment in segments:
            table.add_row(
                show_time(segment.start, item.timezone),
                show_time(segment.end, item.timezone),
                show_duration(segment.duration),
                segment.person or "[red]nobody (gap)[/red]",
                segment.source or "-",
            )
        out.print(table)


@roster.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660), help=DAYS_HELP)
@click.option("--from", "start_text", metavar="WHEN", help=AT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def gaps(app: AppContext, days: int, start_text: str | None, as_json: bool) -> None:
    """Periods with nobody on call, across every roster and level (database overrides included).
    Exit code 1 when there are any."""
    config = app.config()
    start = resolve_when(start_text, app.clock.now(), config.timezone, "--from")
    end = days_later(start, days, config.timezone)
    found = [
        (item, lv, gap)
        for item in app.rosters().values()
        for lv in item.level_names
        for gap in item.gaps(start, end, lv)
    ]
    if as_json:
        emit_json(
            {
                "from": start,
                "to": end,
                "gaps": [{"roster": r.name, "level": lv, "start": g.start, "end": g.end} for r, lv, g in found],
            }
        )
    elif not found:
        console().print(
            f"[green]No gaps: every level of every roster is covered for {days} days"
            f" from {show_time(start, config.timezone)}.[/green]"
        )
    else:
        table = Table(title=f"Gaps in coverage over {days} days from {show_time(start, config.timezone)}")
        for column in ("roster", "level", "from", "to", "length"):
            table.add_column(column)
        for item, lv, gap in found:
            table.add_row(
                item.name,
                lv,
                show_time(gap.start, item.timezone),
                show_time(gap.end, item.timezone),
                show_duration(gap.duration),
            )
        console().print(table)
    if found:
        click.get_current_context().exit(1)
