"""``memoguard heartbeats``: the heartbeats of the monitoring (dead man's switches, services/deadman.py),
each with its last ping, its deadline and its state. Not ``cli/heartbeat.py``, which tells whether a
memoguard engine itself runs on the database."""

from __future__ import annotations

from datetime import datetime

import click
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.output import console, emit_json, show_time

STYLES = {"up": "green", "waiting": "yellow", "missed": "bold red", "undeclared": "dim"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def heartbeats(app: AppContext, as_json: bool) -> None:
    """Each source declaring `heartbeat:`: last ping, deadline and state (times in memoguard.yaml's zone).

    States: waiting (never pinged; its first period runs from when the engine declared it), up, missed
    (an incident is open until the next ping), undeclared (no `memoguard serve` ran since it was added).
    """
    found = app.application().deadman.status()
    if as_json:
        emit_json({"heartbeats": [s.describe() for s in found]})
        return
    if not found:
        console().print("No heartbeats: no source declares `heartbeat:` in memoguard.yaml.")
        return
    zone = app.config().timezone

    def when(at: datetime | None) -> str:
        return "-" if at is None else show_time(at, zone)

    table = Table(title=f"Heartbeats (times {zone})")
    for column in ("name", "every", "grace", "state", "last ping", "deadline", "incident"):
        table.add_column(column)
    for status in found:
        shown = status.describe()
        pulse = status.pulse
        state = str(shown["state"])
        table.add_row(
            status.name,
            str(shown["every"]),
            str(shown["grace"]),
            f"[{STYLES[state]}]{state}[/]",
            when(pulse.last_ping if pulse else None),
            when(pulse.deadline if pulse else None),
            f"#{pulse.incident}" if pulse and pulse.incident and state == "missed" else "-",
        )
    console().print(table)
