"""``memoguard queue``: the outbox per provider, for an operator wondering why a page has not gone out."""

from __future__ import annotations

import click
from rich.table import Table

from memoguard.cli.context import AppContext, pass_app
from memoguard.cli.heartbeat import warn_unless_running
from memoguard.cli.output import console, emit_json, show_instant
from memoguard.services.heartbeat import describe as describe_engine
from memoguard.services.queue import describe


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def queue(app: AppContext, as_json: bool) -> None:
    """Per provider: queued, in flight, sent and failed notifications, rate window usage, what is held
    back (why and until when), when the next send is allowed, and whether it is failing. A warning on
    stderr says when no service runs its engine on the database (then nothing is sent). Exit code 2
    when a provider has been failing for longer than its channel's deadline (so a cron job or a check
    can alert on it)."""
    entries = app.application().queue.report()
    failing = any(entry.failing for entry in entries)
    engines = warn_unless_running(app)
    if as_json:
        emit_json(
            {
                "providers": [describe(entry) for entry in entries],
                "engines": [describe_engine(beat) for beat in engines.alive],
            }
        )
    else:
        zone = app.config().timezone
        table = Table(title=f"Outbox per provider ({zone})")
        columns = ("provider", "queued", "in flight", "sent", "failed", "windows", "held", "next send", "health")
        for column in columns:
            table.add_column(column, justify="right" if column in ("queued", "in flight", "sent", "failed") else "left")
        for entry in entries:
            windows = (
                ", ".join(f"{w.used}/{w.limit} per {w.rate.split('/', 1)[1]}" for w in entry.windows) or "no limit"
            )
            held = "\n".join(
                f"{h.count} {h.purpose}{'s' if h.count > 1 else ''} until {show_instant(h.until, zone)}: {h.why}"
                for h in entry.held
            )
            next_send = show_instant(entry.next_send_at, zone) if entry.next_send_at else "now"
            if entry.blocked_until is not None:
                next_send += " (provider asked to wait)"
            elif (
                entry.next_send_at is not None and entry.held and entry.next_send_at == min(h.first for h in entry.held)
            ):
                next_send += " (everything queued is held)"
            if entry.failing_since is None:
                health = "ok" if engines.running else "no service"
            else:
                since = show_instant(entry.failing_since, zone)
                health = f"{'FAILING' if entry.failing else 'failing'} since {since}: {entry.last_error}"
            table.add_row(
                entry.name,
                str(entry.queued),
                str(entry.in_flight),
                str(entry.sent),
                str(entry.failed),
                windows,
                held or "-",
                next_send,
                health,
            )
        console().print(table)
    if failing:
        raise SystemExit(2)
