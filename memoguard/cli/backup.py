"""``memoguard backup FILE``: a consistent copy of the SQLite database, while the service runs."""

from __future__ import annotations

from pathlib import Path

import click

from memoguard import bootstrap
from memoguard.cli.context import AppContext, pass_app


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def backup(app: AppContext, file: Path) -> None:
    """Copy the SQLite database to FILE, consistently, while `memoguard serve` runs (SQLite's online
    backup API). FILE must not exist. To restore: stop the service, put the copy in place of the
    database file (removing its -wal and -shm files), start the service. PostgreSQL: use pg_dump.
    """
    config = app.config()
    try:
        size = bootstrap.backup(config, file)
    except bootstrap.StartupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up to {file} ({size} bytes)")
