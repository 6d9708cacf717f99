"""``memoguard serve``: the HTTP API, the timer loop and the dispatcher in one process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import click
import uvicorn

from memoguard import bootstrap
from memoguard.cli.context import AppContext, pass_app, shown_url
from memoguard.engine.runtime import Engine
from memoguard.http.app import create_app
from memoguard.services.store import SchemaBehind

log = logging.getLogger("memoguard")


def split_listen(listen: str) -> tuple[str, int]:
    """``127.0.0.1:8080`` or ``[::1]:8080`` → (host, port); a clear error otherwise."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{listen!r}: expected HOST:PORT such as 127.0.0.1:8080", param_hint="listen")
    return host, int(port)


@click.command()
@click.option("--listen", metavar="HOST:PORT", help="Address to listen on (default: http.listen in memoguard.yaml).")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@pass_app
def serve(app: AppContext, listen: str | None, log_level: str) -> None:
    """Run the service: alarm webhooks, incidents API, escalation timers and paging.

    The database schema must be current: an empty database is created, an older one is refused until
    `memoguard db upgrade` has run. Stop with Ctrl-C or SIGTERM; pending work stays in the database
    and resumes at the next start (overdue timers fire at once).
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("apscheduler", "alembic"):
        # Their INFO lines (every sweep, every schema check) drown what operators need to see.
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    config = app.config()
    host, port = split_listen(listen or config.http.listen)
    try:
        application = bootstrap.application(config, app.clock)
    except (SchemaBehind, bootstrap.StartupError) as error:
        raise click.ClickException(str(error).replace(config.database_url, shown_url(config.database_url))) from None
    engine = Engine(application)
    listener = bootstrap.listener(application)
    try:
        replies = bootstrap.reply_listener(application)
    except bootstrap.StartupError as error:
        raise click.ClickException(str(error)) from None

    @contextmanager
    def running() -> Iterator[None]:
        engine.start()
        if listener is not None:
            listener.start()
        if replies is not None:
            replies.start()  # a port taken fails the start, as the HTTP port does
            log.info("replies to e-mail pages: SMTP on %s", config.http.reply_listen)
        log.info(
            "memoguard serving on http://%s:%d: %d people, %d rosters, %d policies, database %s",
            host,
            port,
            len(config.people),
            len(config.rosters),
            len(config.policies),
            shown_url(config.database_url),
        )
        try:
            yield
        finally:
            if replies is not None:
                replies.stop()
            if listener is not None:
                listener.stop()
            engine.stop()

    api = create_app(application, lambda: engine.alive, running)
    uvicorn.run(api, host=host, port=port, log_level=log_level, access_log=log_level == "debug")
