"""What a CLI command imports (issue 20): `memoguard ack` at 3 a.m. must not wait for the service's
HTTP stack, Alembic or a PostgreSQL driver it never uses. Module presence, not timings: each check runs
in a fresh interpreter and looks at ``sys.modules`` after the command was resolved (or run).
bench/cli.py measures the time itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from memoguard.cli import COMMANDS, cli
from tests.conftest import example_copy

# Only `serve` (and `reload`, `import` for httpx) may bring these in.
SERVICE_ONLY = (
    "fastapi",
    "uvicorn",
    "starlette",
    "alembic",
    "psycopg",
    "prometheus_client",
    "httpx",
    "twilio",
    "aiosmtpd",
    "smpplib",
    "memoguard.http",
    "memoguard.engine",
    "memoguard.bootstrap.service",
)
OPERATOR_COMMANDS = ("ack", "confirm", "resolve", "escalate", "incident", "incidents", "oncall", "override", "alarm")


@pytest.fixture
def example_dir(database_url: str) -> Path:
    """The example configuration (nadia is an admin there) on the test database."""
    target = example_copy()
    main = target / "memoguard.yaml"
    main.write_text(f"database: {database_url}\n" + main.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def loaded_after(code: str) -> list[str]:
    """The SERVICE_ONLY modules loaded by a fresh interpreter running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps([m for m in {SERVICE_ONLY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_resolving_the_operator_commands_imports_nothing_of_the_service() -> None:
    names = ", ".join(repr(name) for name in OPERATOR_COMMANDS)
    code = (
        "import click\nfrom memoguard.cli import cli\nctx = click.Context(cli)\n"
        f"for name in ({names},):\n    assert cli.get_command(ctx, name) is not None, name"
    )
    assert loaded_after(code) == []


def test_an_acknowledgement_run_end_to_end_imports_nothing_of_the_service(example_dir: Path, database_url: str) -> None:
    """The command really runs (the database created at head, an alarm opened, acknowledged) and
    still imports none of it: the schema check reads the version row without Alembic."""
    config = str(example_dir)
    code = (
        "from memoguard.cli import cli\n"
        f"cli.main(['--config', {config!r}, 'alarm', 'send', '-s', 'disk full', '--dedup-key', 'd1'],"
        " standalone_mode=False)\n"
        f"cli.main(['--config', {config!r}, 'ack', '1', '--as', 'nadia'], standalone_mode=False)\n"
        f"cli.main(['--config', {config!r}, 'incident', '1'], standalone_mode=False)\n"
        f"cli.main(['--config', {config!r}, 'oncall'], standalone_mode=False)"
    )
    # The first command creates the schema (Alembic, once); the ones after it find it current.
    subprocess.run(
        [sys.executable, "-m", "memoguard", "--config", config, "db", "upgrade"], check=True, capture_output=True
    )
    driver = ["psycopg"] if database_url.startswith("postgresql") else []  # the one thing PostgreSQL needs
    assert loaded_after(code) == driver


def test_the_entry_point_alone_loads_no_command() -> None:
    code = "import memoguard.cli"
    commands = ", ".join(repr(module.partition(":")[0]) for module in COMMANDS.values())
    code += f"\nimport sys\nassert not [m for m in ({commands},) if m in sys.modules]"
    assert loaded_after(code) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_is_found_under_its_name(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert isinstance(command, click.Command)
    assert command.name == name


def test_help_lists_every_command_once() -> None:
    assert cli.list_commands(click.Context(cli)) == sorted(COMMANDS)
    assert cli.get_command(click.Context(cli), "no-such-command") is None
