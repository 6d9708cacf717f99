"""The ``memoguard`` command line (click + rich)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from memoguard import __version__
from memoguard.cli.access import audit, token
from memoguard.cli.action import acknowledge, confirm, escalate, resolve
from memoguard.cli.alarm import alarm
from memoguard.cli.backup import backup
from memoguard.cli.check import check
from memoguard.cli.context import AppContext, StorageUnavailable
from memoguard.cli.db import db
from memoguard.cli.deadman import heartbeats
from memoguard.cli.importer import import_group
from memoguard.cli.incident import incident, incidents
from memoguard.cli.oncall import oncall
from memoguard.cli.override import override
from memoguard.cli.queue import queue
from memoguard.cli.reload import reload
from memoguard.cli.roster import roster
from memoguard.cli.selftest import selftest
from memoguard.cli.serve import serve
from memoguard.cli.silence import silence
from memoguard.cli.simulate import simulate_command
from memoguard.services.store import StoreUnavailable


class _Memoguard(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (SQLAlchemyError, StoreUnavailable) as error:
            # The database failed under a command (gone away, locked for too long): one line, exit 1.
            app = ctx.find_object(AppContext)
            url = app.config().database_url if app is not None else "?"
            raise StorageUnavailable.about(url, error) from None


@click.group(cls=_Memoguard, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="memoguard")
@click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("MEMOGUARD_CONFIG", "."),
    show_default="$MEMOGUARD_CONFIG or the current directory",
    help="Configuration directory: memoguard.yaml, rosters/, escalation_policies/.",
)
@click.pass_context
def cli(ctx: click.Context, config_dir: Path) -> None:
    """memoguard: on-call rosters, escalation policies and paging."""
    if ctx.obj is None:
        ctx.obj = AppContext(Path(config_dir))
        ctx.call_on_close(ctx.obj.close)
    elif ctx.get_parameter_source("config_dir") != click.core.ParameterSource.DEFAULT:
        # An injected context (tests, embedding) keeps its directory unless --config says otherwise.
        ctx.obj.config_dir = Path(config_dir)


cli.add_command(check)
cli.add_command(oncall)
cli.add_command(roster)
cli.add_command(override)
cli.add_command(simulate_command)
cli.add_command(alarm)
cli.add_command(incidents)
cli.add_command(incident)
for _command in (acknowledge, confirm, resolve, escalate):
    cli.add_command(_command)
cli.add_command(db)
cli.add_command(queue)
cli.add_command(serve)
cli.add_command(reload)
cli.add_command(backup)
cli.add_command(import_group)
cli.add_command(token)
cli.add_command(audit)
cli.add_command(heartbeats)
cli.add_command(selftest)
cli.add_command(silence)


def main() -> None:
    cli(prog_name="memoguard")
