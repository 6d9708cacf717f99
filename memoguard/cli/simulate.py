"""``memoguard simulate``: the timeline an alarm would produce, without sending anything."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json, show_duration, show_time
from memoguard.cli.when import AT_HELP, resolve_when
from memoguard.domain.duration import parse_duration
from memoguard.domain.effect import Purpose
from memoguard.domain.errors import InvalidValueError
from memoguard.services.simulation import Entry, PlannedAck, simulate


@click.command("simulate")
@click.argument("policy")
@click.option("--at", "when", metavar="WHEN", help=AT_HELP)
@click.option("--ack-after", metavar="DURATION", help="Simulate an acknowledgement this long after the alarm (5m).")
@click.option("--ack-by", metavar="PERSON", help="Who acknowledges (with --ack-after).")
@click.option(
    "--confirm-after",
    metavar="DURATION",
    help="Double acknowledgement: the same person confirms this long after the alarm.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def simulate_command(
    app: AppContext,
    policy: str,
    when: str | None,
    ack_after: str | None,
    ack_by: str | None,
    confirm_after: str | None,
    as_json: bool,
) -> None:
    """Who POLICY would page, on which channel and when, for an alarm at a given time. Sends nothing."""
    config = app.config()
    try:
        chosen = config.policy(policy)
    except LookupError as error:
        raise click.UsageError(str(error.args[0])) from None
    if (ack_after is None) != (ack_by is None):
        raise click.UsageError("--ack-after and --ack-by go together")
    if confirm_after is not None and ack_after is None:
        raise click.UsageError("--confirm-after needs --ack-after and --ack-by")
    ack = None
    if ack_after is not None and ack_by is not None:
        if ack_by not in config.people:
            raise click.UsageError(f"--ack-by: unknown person {ack_by!r}")
        ack = PlannedAck(
            _duration("--ack-after", ack_after),
            ack_by,
            None if confirm_after is None else _duration("--confirm-after", confirm_after),
        )
    zone = config.timezone
    start = resolve_when(when, app.clock.now(), zone)
    result = simulate(chosen, config.rosters, start, ack)
    if as_json:
        emit_json(
            {
                "policy": chosen.name,
                "start": start,
                "entries": [_json(e) for e in result.entries],
                "end": result.stopped,
            }
        )
        return
    table = Table(title=f"Policy {chosen.name}: alarm at {show_time(start, zone)} ({zone})")
    for column in ("time", "+", "who", "channels", "what"):
        table.add_column(column)
    for entry in result.entries:
        when_text, offset = entry.at.astimezone(zone).strftime("%a %H:%M"), "+" + show_duration(entry.at - start)
        if entry.notify is not None:
            n = entry.notify
            step = "crisis cell" if n.step is None else f"step {n.step + 1}"
            what = f"page ({step})" if n.purpose == Purpose.PAGE else f"notice: {n.reason.replace('_', ' ')}"
            style = "bold" if n.purpose == Purpose.PAGE else ""
            table.add_row(
                when_text, offset, f"[{style}]{n.person}[/]" if style else n.person, ", ".join(n.channels), what
            )
        elif entry.record is not None and entry.record.kind != "paged":
            table.add_row(when_text, offset, "", "", f"[dim]{entry.record.text}[/dim]")
    out = console()
    out.print(table)
    out.print(f"Then: {result.stopped}.")


def _duration(option: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except InvalidValueError as error:
        raise click.UsageError(f"{option}: {error}") from None


def _json(entry: Entry) -> dict[str, Any]:
    if entry.notify is not None:
        n = entry.notify
        return {
            "at": entry.at,
            "type": "notify",
            "person": n.person,
            "channels": list(n.channels),
            "purpose": n.purpose.value,
            "step": None if n.step is None else n.step + 1,
            "reason": n.reason,
        }
    assert entry.record is not None
    return {"at": entry.at, "type": "record", "kind": entry.record.kind, "text": entry.record.text}
