"""``memoguard db upgrade`` and ``memoguard db status``: the database schema."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from memoguard import bootstrap
from memoguard.cli.context import AppContext, StorageUnavailable, pass_app, shown_url
from memoguard.cli.output import console, emit_json
from memoguard.services.store import SchemaBehind


@click.group()
def db() -> None:
    """The database schema: check it, upgrade it after installing a new release."""


@db.command()
@pass_app
def upgrade(app: AppContext) -> None:
    """Bring the database schema up to this release's revision (an empty database gets all of it).

    Take a backup first. Stop every `memoguard serve` on the database while it runs: a service started
    on an older schema refuses to start until this has run.
    """
    config = app.config()
    try:
        before, after = bootstrap.upgrade(config)
    except (bootstrap.StartupError, SQLAlchemyError) as error:
        raise StorageUnavailable.about(config.database_url, error) from None
    if before == after:
        console().print(f"Database schema already at {after}.")
    else:
        console().print(f"Database schema upgraded from {before or 'nothing (empty database)'} to {after}.")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Which schema revision the database is at, and the one this release needs. Changes nothing.

    Exit code 0 when `memoguard serve` can start on the database as it is (schema current, or an empty
    database it will create), 1 when it needs `memoguard db upgrade` or a newer release.
    """
    config = app.config()
    try:
        revision, head = bootstrap.schema_status(config)
        problem = None if revision in (None, head) else _problem(app)
    except (bootstrap.StartupError, SQLAlchemyError) as error:
        raise StorageUnavailable.about(config.database_url, error) from None
    if revision is None:
        message = f"empty: the schema ({head}) is created at first use, or by `memoguard db upgrade`"
    elif problem is None:
        message = "up to date"
    else:
        message = problem
    if as_json:
        emit_json(
            {
                "database": shown_url(config.database_url),
                "revision": revision,
                "head": head,
                "ok": problem is None,
                "message": message,
            }
        )
    else:
        out = console()
        out.print(f"Database:      {shown_url(config.database_url)}")
        out.print(f"Schema:        {revision or '-'}")
        out.print(f"This release:  {head}")
        out.print(f"Status:        {message}" if problem is None else f"Status:        [red]{message}[/red]")
    if problem is not None:
        click.get_current_context().exit(1)


def _problem(app: AppContext) -> str | None:
    """Why the service would refuse the database (behind or written by a newer release), in the words it
    uses at start-up. Only called when the schema has a revision, so checking creates nothing."""
    try:
        bootstrap.store(app.config()).close()
    except SchemaBehind as error:
        return str(error)
    return None
