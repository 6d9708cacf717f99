"""The ``memoguard`` command line (click + rich)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from memoguard import __version__
from memoguard.cli.context import AppContext, StorageUnavailable
from memoguard.services.store import StoreUnavailable

# Each command by name, as "module:attribute", imported only when it runs (or when --help lists it):
# `memoguard ack` does not import what `serve` needs (FastAPI, uvicorn, the engine) nor the importers
# (issue 20). tests/unit/test_cli_imports.py checks that every name here resolves to its command.
COMMANDS = {
    "ack": "memoguard.cli.action:acknowledge",
    "alarm": "memoguard.cli.alarm:alarm",
    "audit": "memoguard.cli.access:audit",
    "backup": "memoguard.cli.backup:backup",
    "check": "memoguard.cli.check:check",
    "confirm": "memoguard.cli.action:confirm",
    "db": "memoguard.cli.db:db",
    "escalate": "memoguard.cli.action:escalate",
    "heartbeats": "memoguard.cli.deadman:heartbeats",
    "import": "memoguard.cli.importer:import_group",
    "incident": "memoguard.cli.incident:incident",
    "incidents": "memoguard.cli.incident:incidents",
    "oncall": "memoguard.cli.oncall:oncall",
    "override": "memoguard.cli.override:override",
    "queue": "memoguard.cli.queue:queue",
    "reload": "memoguard.cli.reload:reload",
    "resolve": "memoguard.cli.action:resolve",
    "roster": "memoguard.cli.roster:roster",
    "selftest": "memoguard.cli.selftest:selftest",
    "serve": "memoguard.cli.serve:serve",
    "silence": "memoguard.cli.silence:silence",
    "simulate": "memoguard.cli.simulate:simulate_command",
    "token": "memoguard.cli.access:token",
}


class _Memoguard(click.Group):
    """The top-level group: commands loaded on demand (COMMANDS), database failures on one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, _, attribute = COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

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


def main() -> None:
    cli(prog_name="memoguard")
