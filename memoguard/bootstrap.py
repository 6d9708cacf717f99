"""The one place that builds concrete adapters and hands them to the entry points.

Nothing here runs at import time: every function builds what it is asked for when it is called.
"""

from __future__ import annotations

from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import Engine

from memoguard.adapters.clock import SystemClock
from memoguard.adapters.console import ConsoleProvider
from memoguard.adapters.storage import migration
from memoguard.adapters.storage.database import open_engine
from memoguard.adapters.storage.listener import PostgresListener
from memoguard.adapters.storage.store import SqlStore
from memoguard.adapters.template import TemplateRenderer
from memoguard.config.loader import load_config
from memoguard.config.model import Config
from memoguard.config.schema import ConsoleProvider as ConsoleSettings
from memoguard.config.secret import SecretError, read_secret
from memoguard.services.action import Actions
from memoguard.services.application import Application
from memoguard.services.clock import Clock
from memoguard.services.dispatch import Dispatcher
from memoguard.services.escalator import Escalator
from memoguard.services.ingest import Ingest
from memoguard.services.override import Overrides
from memoguard.services.provider import Provider
from memoguard.services.query import Incidents
from memoguard.services.secret import SourceTokens
from memoguard.services.timer import Timers


class StartupError(Exception):
    """The service cannot start as configured; the message says what to fix."""


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


def providers(config: Config, clock: Clock) -> dict[str, Provider]:
    built: dict[str, Provider] = {}
    for name, settings in config.providers.items():
        if isinstance(settings, ConsoleSettings):
            file = None
            if settings.file is not None:
                file = Path(settings.file) if Path(settings.file).is_absolute() else config.directory / settings.file
            built[name] = ConsoleProvider(name, clock, file)
        # SMPP, Twilio, SMTP and ticketing providers join in their own issues; a channel that names one
        # of them fails over past it (the dispatcher records "provider not configured").
    return built


def tokens(config: Config) -> SourceTokens:
    values: dict[str, str] = {}
    for name, source in config.sources.items():
        try:
            values[name] = read_secret(
                f"source {name!r}", "token", source.token_file, source.token_env, config.directory
            )
        except SecretError as error:
            raise StartupError(str(error)) from None
    return SourceTokens(values)


def application(config: Config, clock: Clock, *, with_tokens: bool = True) -> Application:
    """Every use case on one store. ``with_tokens=False`` for CLI commands that never authenticate
    a source (they must work without the sources' secrets)."""
    sql = store(config)
    escalator = Escalator(config.people, TemplateRenderer())
    return Application(
        config=config,
        clock=clock,
        store=sql,
        escalator=escalator,
        ingest=Ingest(sql, clock, config, escalator),
        actions=Actions(sql, clock, config.people, escalator),
        timers=Timers(sql, clock, escalator),
        dispatcher=Dispatcher(sql, clock, config.people, config.channels, providers(config, clock), escalator),
        overrides=Overrides(sql, clock, config),
        incidents=Incidents(sql),
        tokens=tokens(config) if with_tokens else SourceTokens({}),
    )


def listener(app: Application) -> PostgresListener | None:
    """On PostgreSQL, wake this process when another one commits timers or notifications."""
    sql = app.store
    if not isinstance(sql, SqlStore) or not sql.postgres:
        return None
    return PostgresListener(sql.engine.url.render_as_string(hide_password=False), sql.wake_from_elsewhere)
