"""Whether a ``memoguard serve`` runs its engine on the database the CLI writes to.

The CLI only queues: an alarm it injects opens an incident whose pages wait in the outbox, and its
escalation timers wait in the database, until a service running its engine on the same database sends
and fires them. When no engine has beaten lately (``services/heartbeat.py``: a beat every 10 s, stale
after 30 s), commands that queue pages or show them (``alarm send``, ``incident``, ``queue``) say so on
stderr, so that nobody reads "opened incident 1" as "someone was paged".
"""

from __future__ import annotations

import click

from memoguard.cli.context import AppContext
from memoguard.cli.output import show_instant
from memoguard.services.heartbeat import EngineStatus


def status(app: AppContext) -> EngineStatus:
    return app.application().engines.status()


def warning(app: AppContext, engines: EngineStatus) -> str | None:
    """The warning line, or None while an engine runs."""
    if engines.running:
        return None
    queued = "pages are queued, not sent, and escalation timers wait until `memoguard serve` runs on it"
    if engines.last is None or engines.last_seen is None:
        return f"warning: no memoguard service has run its engine on this database: {queued}"
    zone = app.config().timezone
    last = engines.last
    since = show_instant(engines.last_seen, zone)
    how = "stopped" if last.stopped_at is not None else "last seen"
    return (
        f"warning: no memoguard service has run its engine on this database since {since}"
        f" ({last.host}, pid {last.pid}, {how}): {queued}"
    )


def warn_unless_running(app: AppContext) -> EngineStatus:
    """Print the warning on stderr when no engine runs; the status either way."""
    engines = status(app)
    line = warning(app, engines)
    if line is not None:
        click.echo(click.style(line, fg="yellow"), err=True)
    return engines
