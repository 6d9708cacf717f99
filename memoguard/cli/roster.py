"""``memoguard roster show`` and ``memoguard roster gaps``: coming shifts and uncovered periods.

``gaps`` (and ``check``) also warn about a person on call at two levels at once: the second level is
then no second chance. A warning, not a gap: the exit code does not change for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import click
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json, show_duration, show_time
from memoguard.cli.when import AT_HELP, days_later, resolve_when
from memoguard.config.model import Config
from memoguard.domain.errors import UnknownLevelError
from memoguard.domain.roster import DoubleDuty, Roster

SHOWN_PERIODS = 3  # periods of double duty spelled out in a warning; the rest are counted

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
    rosters = app.rosters().values()
    found = [(item, lv, gap) for item in rosters for lv in item.level_names for gap in item.gaps(start, end, lv)]
    doubled = double_duty(rosters, start, end)
    if as_json:
        emit_json(
            {
                "from": start,
                "to": end,
                "gaps": [{"roster": r.name, "level": lv, "start": g.start, "end": g.end} for r, lv, g in found],
                "double_duty": double_duty_json(doubled),
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
    if not as_json:
        for line in double_duty_warnings(doubled, config, start, days):
            click.echo(line, err=True)
    if found:
        click.get_current_context().exit(1)


def double_duty(rosters: Iterable[Roster], start: datetime, end: datetime) -> list[tuple[Roster, DoubleDuty]]:
    return [(item, found) for item in rosters for found in item.double_duty(start, end)]


def double_duty_json(doubled: list[tuple[Roster, DoubleDuty]]) -> list[dict[str, Any]]:
    return [
        {
            "roster": item.name,
            "levels": [found.first, found.second],
            "person": found.person,
            "periods": [{"start": since, "end": until} for since, until in found.periods],
        }
        for item, found in doubled
    ]


def double_duty_warnings(
    doubled: list[tuple[Roster, DoubleDuty]], config: Config, start: datetime, days: int
) -> list[str]:
    """One ``file:line: path: warning: …`` line per roster, pair of levels and person, at the second level."""
    return [_warning(item, found, config.levels_at, start, days) for item, found in doubled]


def _warning(
    item: Roster,
    found: DoubleDuty,
    levels_at: Mapping[tuple[str, str], tuple[str, int, str]],
    start: datetime,
    days: int,
) -> str:
    zone = item.timezone
    shown = ", ".join(
        f"{show_time(since, zone)} to {show_time(until, zone)}" for since, until in found.periods[:SHOWN_PERIODS]
    )
    more = len(found.periods) - SHOWN_PERIODS
    if more > 0:
        shown += f" and {more} more"
    count = len(found.periods)
    text = (
        f"warning: roster {item.name!r}: {found.person} is on call at {found.first} and {found.second} at once, "
        f"{count} time{'s' if count != 1 else ''} in {days} days from {show_time(start, zone)}: {shown}; "
        f"paging {found.second} then wakes {found.person} again instead of someone else"
    )
    file, line, path = levels_at.get((item.name, found.second), ("", 0, ""))
    if not file:
        return text
    return f"{file}:{line}: {path}: {text}"
