"""What the ``memoguard import`` end-to-end tests share: the CLI run in-process, its exit code and output."""

from __future__ import annotations

from click.testing import CliRunner

from memoguard.cli import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output
