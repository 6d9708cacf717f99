"""The one place that builds concrete adapters and hands them to the entry points.

Nothing here runs at import time: every function builds what it is asked for when it is called.
Adapters only ``serve`` builds (providers and their clients, Prometheus metrics, the PostgreSQL
listener) and Alembic are imported by the functions that build them, not here: a CLI command such as
``memoguard ack`` loads the configuration, the store and the use cases, and nothing of the service
(issue 20: it spent most of its 1.5 s importing what it never used).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from memoguard.adapters.clock import SystemClock
from memoguard.adapters.storage import migration
from memoguard.adapters.storage.database import open_engine
from memoguard.adapters.storage.parts import SqlSmsParts
from memoguard.adapters.storage.store import SqlStore
from memoguard.adapters.template import TemplateRenderer
from memoguard.bootstrap.errors import StartupError as StartupError
from memoguard.bootstrap.senders import hooks as hooks
from memoguard.bootstrap.senders import providers as providers
from memoguard.bootstrap.senders import secret_problems as secret_problems
from memoguard.config.loader import load_config
from memoguard.config.model import Config
from memoguard.config.secret import SecretError, read_secret
from memoguard.config.tokens import same_values
from memoguard.services.access import Access
from memoguard.services.action import Actions
from memoguard.services.application import Application
from memoguard.services.clock import Clock
from memoguard.services.deadman import Deadman
from memoguard.services.delivery import Delivery
from memoguard.services.dispatch import Dispatcher
from memoguard.services.dispatch.recording import Recorder
from memoguard.services.escalator import Escalator
from memoguard.services.heartbeat import Engines
from memoguard.services.inbox import Inbox
from memoguard.services.ingest import Ingest
from memoguard.services.link import EmailLinks, Signer
from memoguard.services.live import (
    CurrentCalls,
    CurrentMailReplies,
    Live,
    current_inbox,
    current_links,
    current_reply_address,
)
from memoguard.services.mailreply import Answering, MailReplies
from memoguard.services.metrics import NO_METRICS, Metrics, read_gauges
from memoguard.services.override import Overrides
from memoguard.services.provider import Provider
from memoguard.services.query import Incidents
from memoguard.services.queue import Queue
from memoguard.services.reply import Replies
from memoguard.services.secret import SourceTokens
from memoguard.services.selftest import SelfTester
from memoguard.services.session import Sessions
from memoguard.services.signin import CodeSettings, SignIn
from memoguard.services.silences import Silences
from memoguard.services.timer import Timers
from memoguard.services.voice import CallDesk, Calls

if TYPE_CHECKING:  # imported where they are built (see above); aiosmtpd is an optional extra
    from memoguard.adapters.smtp.listener import ReplyListener
    from memoguard.adapters.storage.listener import PostgresListener


def clock() -> Clock:
    return SystemClock()


def load(directory: Path) -> Config:
    """Load the configuration directory (raises ConfigError listing every problem)."""
    return load_config(directory)


def engine(config: Config) -> Engine:
    try:
        return open_engine(config.database_url)
    except ValueError as error:
        raise StartupError(str(error)) from None


def upgrade(config: Config) -> tuple[str | None, str]:
    """``memoguard db upgrade``: bring the schema to this release's head. A schema at a revision this
    release does not know (written by a newer one) is refused with a StartupError."""
    from alembic.util.exc import CommandError  # noqa: PLC0415 (Alembic only to upgrade)

    db = engine(config)
    try:
        return migration.upgrade(db)
    except CommandError as error:
        raise StartupError(
            f"cannot upgrade the schema: {error}; the database was probably written by a newer memoguard: "
            "run that release or restore a backup"
        ) from None
    finally:
        db.dispose()


def backup(config: Config, target: Path) -> int:
    """``memoguard backup FILE``: a consistent copy of the SQLite database (StartupError says why not)."""
    from memoguard.adapters.storage.backup import BackupError  # noqa: PLC0415 (only for this command)
    from memoguard.adapters.storage.backup import backup as backup_database  # noqa: PLC0415

    try:
        return backup_database(config.database_url, target)
    except BackupError as error:
        raise StartupError(str(error)) from None


def schema_status(config: Config) -> tuple[str | None, str]:
    db = engine(config)
    try:
        return migration.current(db), migration.head()
    finally:
        db.dispose()


def store(config: Config) -> SqlStore:
    """The store, after checking the schema (an empty database is created at head)."""
    db = engine(config)
    try:
        migration.ensure_current(db)
    except Exception:
        db.dispose()
        raise
    return SqlStore(db)


def email_links(config: Config, store: SqlStore, clock: Clock, actions: Actions) -> EmailLinks | None:
    """The signer of e-mail acknowledgement links, when ``http.public_url`` and a link secret are set
    (``check`` requires both once an SMTP provider is configured)."""
    http = config.http
    if http.public_url is None or (http.link_secret_file is None and http.link_secret_env is None):
        return None
    try:
        secret = read_secret("http", "link_secret", http.link_secret_file, http.link_secret_env, config.directory)
        signer = Signer(secret, http.link_ttl)
    except (SecretError, ValueError) as error:
        raise StartupError(str(error) if isinstance(error, SecretError) else f"http.link_secret: {error}") from None
    return EmailLinks(signer, http.public_url, store, clock, config.people, actions)


def mail_replies(
    config: Config, actions: Actions, store: SqlStore, clock: Clock, renderer: TemplateRenderer
) -> MailReplies | None:
    """Replies to e-mail pages, when ``http.reply_domain`` is set (the schema then requires a link secret).
    Answers to replies that did nothing go out by the SMTP providers, in the configuration's order."""
    http = config.http
    if http.reply_domain is None:
        return None
    try:
        secret = read_secret("http", "link_secret", http.link_secret_file, http.link_secret_env, config.directory)
    except SecretError as error:
        raise StartupError(str(error)) from None
    mailers = tuple(name for name, settings in config.providers.items() if settings.kind == "smtp")
    answering = Answering(store, clock, renderer, mailers)
    return MailReplies(secret, http.reply_domain, config.people, actions, answering)


def reply_listener(app: Application, live: Live | None = None) -> ReplyListener | None:
    """The inbound SMTP listener for replies, when configured (aiosmtpd: the ``email`` extra). With ``live``
    (``serve``), each reply is read by the application in force: its people, its link secret."""
    replies, listen = app.mail_replies, app.config.http.reply_listen
    if replies is None or listen is None:
        return None
    desk = CurrentMailReplies(live) if live is not None else replies
    try:
        from memoguard.adapters.smtp.listener import ReplyListener  # noqa: PLC0415 (only when configured)
    except ImportError as error:
        raise StartupError(
            f"http.reply_listen needs the email extra: pip install 'memoguard[email]' ({error})"
        ) from None
    host, _, port = listen.rpartition(":")
    return ReplyListener(desk, host.strip("[]"), int(port))


def metrics_token(config: Config) -> str | None:
    """The token /metrics requires on the API's port, when ``metrics.token_file``/``token_env`` is set."""
    settings = config.metrics
    if settings.token_file is None and settings.token_env is None:
        return None
    try:
        return read_secret("metrics", "token", settings.token_file, settings.token_env, config.directory)
    except SecretError as error:
        raise StartupError(str(error)) from None


def delivery(config: Config) -> Delivery:
    return Delivery(
        channels=config.channels,
        deadlines=config.deadlines,
        rates={name: tuple(settings.rate) for name, settings in config.providers.items()},
        storm_pages=config.storm.pages,
        storm_window=config.storm.per,
    )


def outbound_purposes(config: Config) -> dict[str, str]:
    """Rows for a helpdesk are tickets, rows for a webhook are webhook events (both after status messages)."""
    kinds = {"zendesk": "ticket", "webhook": "webhook"}
    return {name: kinds[p.kind] for name, p in config.providers.items() if p.kind in kinds}


def tokens(config: Config) -> SourceTokens:
    values: dict[str, str] = {}
    for name, source in config.sources.items():
        try:
            values[name] = read_secret(
                f"source {name!r}", "token", source.token_file, source.token_env, config.directory
            )
        except SecretError as error:
            raise StartupError(str(error)) from None
    # The loader compares what it can read; the service's environment may hold what check's did not.
    for name, earlier in same_values(values):
        raise StartupError(f"sources {earlier!r} and {name!r} have the same token: each source needs its own")
    return SourceTokens(values)


def application(config: Config, clock: Clock, *, with_tokens: bool = True, with_providers: bool = True) -> Application:
    """Every use case on one store. ``with_tokens=False`` for CLI commands that never authenticate
    a source, ``with_providers=False`` for those that never send (only ``serve`` sends: every other
    command reads or writes the database, and queued messages wait there for a service). Either way
    such commands work without the sources' or the providers' secrets; the dispatcher of an
    application without providers has nothing to send through and must not be run."""
    sql = store(config)
    try:
        return _application(sql, config, clock, with_tokens=with_tokens, with_providers=with_providers)
    except BaseException:
        sql.close()  # a secret missing: the caller reports it, and no connection is left open behind it
        raise


def _application(
    sql: SqlStore,
    config: Config,
    clock: Clock,
    *,
    with_tokens: bool,
    with_providers: bool,
    live: Live | None = None,
    reuse: Application | None = None,
) -> Application:
    """``live``: the service's application in force; the providers built here reach it, not this first
    application, for what they receive, the calls they answer, the links and Reply-To they write (a reload
    swaps it: services/live.py). ``reuse``: a reload's previous application, whose providers and metrics
    carry on (bootstrap/service.py)."""
    renderer = TemplateRenderer()
    escalator = Escalator(config.people, renderer, outbound_purposes(config), config.http.public_url)
    # Only the service counts (a CLI command's counters would die with it); the gauges read its providers.
    known: dict[str, Provider] = {}
    metrics: Metrics = NO_METRICS
    if reuse is not None or with_providers:
        from memoguard.adapters.metrics import PrometheusMetrics  # noqa: PLC0415 (prometheus_client: serve only)

        if reuse is not None:
            metrics = reuse.metrics
        else:
            metrics = PrometheusMetrics(lambda: read_gauges(sql, clock, delivery(config), known))
        if isinstance(metrics, PrometheusMetrics):
            metrics.config_hash = config.digest
    actions = Actions(sql, clock, config.people, escalator, metrics)
    # A receipt (or a failed call's status) may beat the commit of its message's ids by a moment: the
    # service waits that long for it.
    wait = 2.0 if isinstance(clock, SystemClock) else 0.0
    # One recorder of delivery outcomes: a receipt saying a page was not delivered fails it over as a send does.
    recorder = Recorder(sql, clock, delivery(config), escalator, random.Random(), metrics)
    replies = Replies(
        sql, clock, config.people, actions, renderer, config.phone_region, receipt_wait=wait, recorder=recorder
    )
    # Only a service that sends or serves reads the link secret (other commands work without it).
    links = email_links(config, sql, clock, actions) if with_providers else None
    replies_by_mail = mail_replies(config, actions, sql, clock, renderer) if with_providers else None
    calls = Calls(sql, clock, config.people, actions, renderer, recorder, status_wait=wait)
    built: Mapping[str, Provider] = {}
    if reuse is not None:
        built = reuse.providers
        if replies_by_mail is not None and reuse.mail_replies is not None:
            replies_by_mail.listening = reuse.mail_replies.listening  # the listener serves on: /readyz
    elif with_providers:
        built = providers(config, clock, SqlSmsParts(sql), *_wired(live, replies, links, replies_by_mail, calls))
    known.update(built)
    ingest = Ingest(sql, clock, config, escalator, metrics=metrics)
    auth = config.http.auth
    sessions = Sessions(sql, clock, config.people, auth.session_idle, auth.session_max)
    codes = CodeSettings(auth.code_ttl, auth.codes_per_person, auth.code_window)
    signin = SignIn(sql, clock, config.people, tuple(config.channels), renderer, codes, sessions, auth.proxy_addresses)
    return Application(
        config=config,
        clock=clock,
        store=sql,
        escalator=escalator,
        ingest=ingest,
        actions=actions,
        replies=replies,
        timers=Timers(sql, clock, escalator, metrics),
        dispatcher=Dispatcher(
            sql,
            clock,
            config.people,
            delivery(config),
            built,
            escalator,
            renderer,
            # Pacing waits in real time: only with the real clock (tests drive an injected one themselves).
            pace=time.sleep if isinstance(clock, SystemClock) else None,
            metrics=metrics,
        ),
        overrides=Overrides(sql, clock, config),
        incidents=Incidents(sql),
        tokens=tokens(config) if with_tokens else SourceTokens({}),
        queue=Queue(sql, clock, delivery(config), config.providers),
        engines=Engines(sql, clock),
        access=Access(sql, clock, config.people),
        deadman=Deadman(sql, clock, config, ingest),
        selftest=SelfTester(sql, clock, config, escalator),
        silences=Silences(sql, clock, config, escalator),
        sessions=sessions,
        signin=signin,
        hooks=hooks(built),
        links=links,
        mail_replies=replies_by_mail,
        calls=calls,
        providers=built,
        metrics=metrics,
        metrics_token=metrics_token(config) if with_providers else None,
    )


def _wired(
    live: Live | None, replies: Replies, links: EmailLinks | None, mail: MailReplies | None, calls: Calls
) -> tuple[
    Inbox,
    Callable[[str, str, int | None, datetime], dict[str, str]] | None,
    Callable[[str, str], str | None] | None,
    CallDesk,
]:
    """What the providers reach: this application's own parts, or (the service) the application in force's.
    Whether there are links and reply addresses at all is ``http``'s, which only a restart changes."""
    if live is None:
        return replies, links.for_page if links else None, mail.address if mail else None, calls
    reply_to = current_reply_address(live) if mail is not None else None
    return current_inbox(live), current_links(live) if links is not None else None, reply_to, CurrentCalls(live)


def listener(app: Application) -> PostgresListener | None:
    """On PostgreSQL, wake this process when another one commits timers or notifications."""
    sql = app.store
    if not isinstance(sql, SqlStore) or not sql.postgres:
        return None
    from memoguard.adapters.storage.listener import PostgresListener  # noqa: PLC0415 (psycopg: PostgreSQL only)

    return PostgresListener(sql.engine.url.render_as_string(hide_password=False), sql.wake_from_elsewhere)
