"""The ``memoguard`` command line (click + rich)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from memoguard import __version__
from memoguard.cli.check import check
from memoguard.cli.context import AppContext
from memoguard.cli.oncall import oncall
from memoguard.cli.roster import roster
from memoguard.cli.serve import serve
from memoguard.cli.simulate import simulate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    elif ctx.get_parameter_source("config_dir") != click.core.ParameterSource.DEFAULT:
        # An injected context (tests, embedding) keeps its directory unless --config says otherwise.
        ctx.obj.config_dir = Path(config_dir)


cli.add_command(check)
cli.add_command(oncall)
cli.add_command(roster)
cli.add_command(simulate_command)
cli.add_command(serve)


def main() -> None:
    cli(prog_name="memoguard")
