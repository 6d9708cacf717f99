"""``memoguard serve``: the HTTP API, the timer loop and the dispatcher in one process.

Under systemd (``Type=notify``, systemd/memoguard.service) it says READY=1 once the port listens, feeds the
watchdog from the engine's loops and says STOPPING=1 when a stop begins (engine/notify.py,
engine/watchdog.py). A stop is in order: alarms refused with 503, provider calls finished, claims given
back, requests under way answered, then exit 0 (http/server.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click
import uvicorn

from memoguard import bootstrap
from memoguard.cli.context import AppContext, pass_app, shown_url
from memoguard.engine.notify import Notifier, NotifyError, watchdog_seconds
from memoguard.engine.runtime import LOOPS, Engine
from memoguard.engine.watchdog import Watchdog
from memoguard.http.app import create_app
from memoguard.http.server import Server
from memoguard.services.store import SchemaBehind

log = logging.getLogger("memoguard")

ENGINE_STOP = 10.0  # seconds each engine loop gets to finish its round (a provider call) at a stop
HTTP_GRACE = 5  # then seconds the requests under way get; TimeoutStopSec=30s in the unit covers both


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
        notifier = Notifier.from_environment()
        timeout = watchdog_seconds()
    except NotifyError as error:
        raise click.ClickException(str(error)) from None
    watchdog = Watchdog(notifier, timeout, LOOPS) if timeout is not None and notifier.enabled else None
    try:
        application = bootstrap.application(config, app.clock)
    except (SchemaBehind, bootstrap.StartupError) as error:
        raise click.ClickException(str(error).replace(config.database_url, shown_url(config.database_url))) from None
    engine = Engine(application, watchdog=watchdog)
    listener = bootstrap.listener(application)
    try:
        replies = bootstrap.reply_listener(application)
    except bootstrap.StartupError as error:
        raise click.ClickException(str(error)) from None
    scrape = bootstrap.metrics_listener(application)

    @contextmanager
    def running() -> Iterator[None]:
        engine.start()
        if listener is not None:
            listener.start()
        if replies is not None:
            replies.start()  # a port taken fails the start, as the HTTP port does
            log.info("replies to e-mail pages: SMTP on %s", config.http.reply_listen)
        if scrape is not None:
            scrape.start()  # a port taken fails the start, as the HTTP port does
            log.info("metrics: http://%s/metrics (no token: keep this address private)", config.metrics.listen)
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
            if scrape is not None:
                scrape.stop()
            if replies is not None:
                replies.stop()
            if listener is not None:
                listener.stop()
            engine.stop()

    def ready() -> None:
        notifier.ready(f"serving on {host}:{port}")

    def stop() -> None:
        log.info("stopping: alarms are refused (503), the engine finishes its provider calls")
        notifier.stopping("stopping: finishing provider calls")
        engine.stop(ENGINE_STOP)
        log.info("engine stopped; closing the port once the requests under way are answered")

    stopping = threading.Event()
    api = create_app(application, lambda: engine.alive, running, stopping=stopping)
    settings = uvicorn.Config(
        api,
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=HTTP_GRACE,
    )
    Server(settings, stopping, on_ready=ready, on_stop=stop).run()
