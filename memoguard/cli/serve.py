"""``memoguard serve``: the HTTP API, the timer loop and the dispatcher in one process.

Under systemd (``Type=notify``, systemd/memoguard.service) it says READY=1 once the port listens, feeds the
watchdog from the engine's loops and says STOPPING=1 when a stop begins (engine/notify.py,
engine/watchdog.py). A stop is in order: alarms refused with 503, provider calls finished, claims given
back, requests under way answered, then exit 0 (http/server.py). SIGHUP reloads the configuration
(bootstrap/service.py): a valid one is put in force, an invalid one refused with every problem logged.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click
import uvicorn

from memoguard import bootstrap
from memoguard.bootstrap import service as served
from memoguard.cli.context import AppContext, pass_app, shown_url
from memoguard.config.model import Config
from memoguard.engine import logs
from memoguard.engine.notify import Notifier, NotifyError, watchdog_seconds
from memoguard.engine.runtime import LOOPS, Engine
from memoguard.engine.watchdog import Watchdog
from memoguard.http.app import create_app
from memoguard.http.server import Server
from memoguard.services.live import Live
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


class _Service:
    """One ``serve`` run: the application in force, its engine and listeners, and what signals do."""

    def __init__(self, app: AppContext, config: Config, host: str, port: int) -> None:
        self._context = app
        self._host, self._port = host, port
        try:
            self.notifier = Notifier.from_environment()
            timeout = watchdog_seconds()
        except NotifyError as error:
            raise click.ClickException(str(error)) from None
        watchdog = Watchdog(self.notifier, timeout, LOOPS) if timeout is not None and self.notifier.enabled else None
        try:
            self.live: Live = served.service(config, app.clock)
        except (SchemaBehind, bootstrap.StartupError) as error:
            shown = shown_url(config.database_url)
            raise click.ClickException(str(error).replace(config.database_url, shown)) from None
        first = self.live.current()
        self.engine = Engine(first, watchdog=watchdog, current=self.live.current)
        self._listener = bootstrap.listener(first)
        try:
            self._replies = bootstrap.reply_listener(first, self.live)
        except bootstrap.StartupError as error:
            raise click.ClickException(str(error)) from None
        self._scrape = served.metrics_listener(first)
        self._reloading = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[None]:
        config = self.live.current().config
        self.engine.start()
        if self._listener is not None:
            self._listener.start()
        if self._replies is not None:
            self._replies.start()  # a port taken fails the start, as the HTTP port does
            log.info("replies to e-mail pages: SMTP on %s", config.http.reply_listen)
        if self._scrape is not None:
            self._scrape.start()  # a port taken fails the start, as the HTTP port does
            log.info("metrics: http://%s/metrics (no token: keep this address private)", config.metrics.listen)
        log.info(
            "memoguard serving on http://%s:%d: %d people, %d rosters, %d policies, database %s, config %s",
            self._host,
            self._port,
            len(config.people),
            len(config.rosters),
            len(config.policies),
            shown_url(config.database_url),
            config.digest[:12],
        )
        try:
            yield
        finally:
            if self._scrape is not None:
                self._scrape.stop()
            if self._replies is not None:
                self._replies.stop()
            if self._listener is not None:
                self._listener.stop()
            self.engine.stop()

    def ready(self) -> None:
        self.notifier.ready(f"serving on {self._host}:{self._port}, config {self.live.current().config.digest[:12]}")

    def stop(self) -> None:
        log.info("stopping: alarms are refused (503), the engine finishes its provider calls")
        self.notifier.stopping("stopping: finishing provider calls")
        self.engine.stop(ENGINE_STOP)
        log.info("engine stopped; closing the port once the requests under way are answered")

    def on_hangup(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002 - signal handler
        threading.Thread(target=self.reload, name="memoguard-reload", daemon=True).start()

    def reload(self) -> bool:
        """Load the configuration directory again; True if it is now in force."""
        with self._reloading:  # two SIGHUPs in a row: one reload after the other
            self.notifier.reloading(time.monotonic_ns() // 1000)
            running = self.live.current().config.digest
            try:
                fresh = served.reload(self.live, self._context.config_dir)
            except served.ReloadRefused as refused:
                for problem in refused.problems:
                    log.error("reload: %s", problem)
                count = len(refused.problems)
                log.error(
                    "reload refused (%d problem%s): configuration %s stays in force",
                    count,
                    "" if count == 1 else "s",
                    running[:12],
                )
                self.notifier.ready(f"reload refused ({count} problems), config {running[:12]} in force")
                return False
            digest = fresh.config.digest
            log.info("reloaded: configuration %s in force (was %s)", digest[:12], running[:12])
            self.notifier.ready(f"serving on {self._host}:{self._port}, config {digest[:12]}")
            return True


@click.command()
@click.option("--listen", metavar="HOST:PORT", help="Address to listen on (default: http.listen in memoguard.yaml).")
@click.option(
    "--log-level",
    type=click.Choice(logs.LEVELS),
    default=None,
    help="Overrides logging.level of memoguard.yaml (default there: info).",
)
@pass_app
def serve(app: AppContext, listen: str | None, log_level: str | None) -> None:
    """Run the service: alarm webhooks, incidents API, escalation timers and paging.

    The database schema must be current: an empty database is created, an older one is refused until
    `memoguard db upgrade` has run. Stop with Ctrl-C or SIGTERM: alarms are refused (503) while the
    provider calls under way finish, then it exits; pending work stays in the database and resumes at
    the next start (overdue timers fire at once). SIGHUP (or `memoguard reload`) reloads the
    configuration: an invalid one is refused, every problem logged, and the running one stays.
    Logs (logging: in memoguard.yaml): text on a terminal, journal fields under systemd, JSON lines
    otherwise, with the incident and notification ids as fields.
    """
    config = app.config()
    log_level = log_level or config.logging.level
    logs.configure(config.logging.format, log_level)
    host, port = split_listen(listen or config.http.listen)
    service = _Service(app, config, host, port)
    stopping = threading.Event()
    first = service.live.current()
    api = create_app(
        first, lambda: service.engine.alive, service.running, stopping=stopping, current=service.live.current
    )
    settings = uvicorn.Config(
        api,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # uvicorn's lines go through the root logger, in the shape chosen above
        access_log=log_level == "debug",
        timeout_graceful_shutdown=HTTP_GRACE,
        # The client's address is the TCP peer's, whoever it is: uvicorn would otherwise believe
        # X-Forwarded-For from 127.0.0.1, and the trusted proxy check of http.auth.proxy_addresses, the
        # throttles and the audit must see the proxy's own address, not one a header claims.
        proxy_headers=False,
    )
    signal.signal(signal.SIGHUP, service.on_hangup)
    Server(settings, stopping, on_ready=service.ready, on_stop=service.stop).run()
