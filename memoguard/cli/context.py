"""What every command shares: where the configuration is, the loaded configuration and the clock."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from memoguard import bootstrap
from memoguard.config.model import Config
from memoguard.config.problem import ConfigError
from memoguard.domain.roster import Roster
from memoguard.services.application import Application
from memoguard.services.clock import Clock
from memoguard.services.store import SchemaBehind, StoreUnavailable


class ConfigInvalid(click.ClickException):
    """Printed as one line per problem, then a count; exit code 1."""

    exit_code = 1

    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error))
        self.problems = error.problems

    def show(self, file: IO[Any] | None = None) -> None:  # noqa: ARG002 - click's signature; we print to stderr
        for problem in self.problems:
            click.echo(str(problem), err=True)
        count = len(self.problems)
        click.echo(f"{count} problem{'s' if count != 1 else ''} found; nothing was loaded", err=True)


class StorageUnavailable(click.ClickException):
    """The database cannot be used (schema behind, bad URL, unreachable): exit code 1."""

    exit_code = 1

    @classmethod
    def about(cls, url: str, error: Exception) -> StorageUnavailable:
        """``database URL: what went wrong``, on one line, without the URL's password or SQLAlchemy's
        statement dump and documentation link."""
        shown = shown_url(url)
        return cls(f"database {shown}: {first_line(error).replace(url, shown)}")


def shown_url(url: str) -> str:
    """The database URL as it may be printed: any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy reads (libpq's "h1:5432,h2:5432"): mask by hand
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def first_line(error: Exception) -> str:
    cause = getattr(error, "orig", None) or error  # a DBAPI error wrapped by SQLAlchemy says it best
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


@dataclass
class AppContext:
    config_dir: Path
    clock: Clock = field(default_factory=bootstrap.clock)
    _config: Config | None = None
    _application: Application | None = None

    def application(self) -> Application:
        """The use cases on the configured database (created at head if empty). Neither source tokens
        nor provider secrets are read: CLI commands write to the database directly, never authenticate
        a source and never send (what they queue waits for a running ``memoguard serve``)."""
        if self._application is None:
            try:
                self._application = bootstrap.application(
                    self.config(), self.clock, with_tokens=False, with_providers=False
                )
            except (SchemaBehind, bootstrap.StartupError, SQLAlchemyError, StoreUnavailable) as error:
                raise StorageUnavailable.about(self.config().database_url, error) from None
        return self._application

    def close(self) -> None:
        """Release the database connections, if a command opened any."""
        if self._application is not None:
            self._application.dispatcher.close()
            self._application.store.close()
            self._application = None

    def rosters(self) -> Mapping[str, Roster]:
        """The configured rosters with the overrides stored in the database laid over them."""
        return self.application().overrides.rosters()

    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = bootstrap.load(self.config_dir)
            except ConfigError as error:
                raise ConfigInvalid(error) from None
        return self._config


pass_app = click.make_pass_decorator(AppContext)
