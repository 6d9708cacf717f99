"""End-to-end tests of what the command line says about the service behind it (issue 14): whether a
``memoguard serve`` is running its engine on the database (its heartbeat), that commands which only read
or queue never need the providers' secrets, and how the incident view words each notification.

Every command runs through click's CliRunner with an injected AppContext and the fake clock on the
service test configuration (tests/fixtures/service, SQLite and PostgreSQL when configured), as in
test_cli_incidents.py. Engines are started the way ``serve`` starts them (``Engine.start``) on the same
fake clock; their heartbeat job is called by hand instead of waiting for APScheduler.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from memoguard.cli import cli
from memoguard.cli.context import AppContext
from tests.conftest import FakeClock

SMPP_LINK = "  smsc: {kind: smpp, host: 127.0.0.1, port: 9, system_id: mg, password_env: MEMOGUARD_TEST_UNSET_SMPP}\n"


@pytest.fixture
def ctx(service_dir: Path, fake_clock: FakeClock) -> Iterator[AppContext]:
    context = AppContext(service_dir, clock=fake_clock)
    yield context
    context.close()


def run(ctx: AppContext, args: Sequence[str], expect: int = 0) -> Result:
    runner = CliRunner(env={"COLUMNS": "200", "MEMOGUARD_CONFIG": None, "MEMOGUARD_TEST_UNSET_SMPP": None})
    result = runner.invoke(cli, list(args), obj=ctx)
    assert result.exit_code == expect, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


def run_json(ctx: AppContext, args: Sequence[str], expect: int = 0) -> Any:
    return json.loads(run(ctx, [*args, "--json"], expect=expect).stdout)


def with_smpp_link(service_dir: Path) -> None:
    """An SMPP link first on the sms channel, whose password comes from an environment variable nobody set."""
    main = service_dir / "memoguard.yaml"
    content = main.read_text(encoding="utf-8")
    content = content.replace("  sms: [console]\n", "  sms: [smsc, console]\n")
    main.write_text(content + SMPP_LINK, encoding="utf-8")


# --- provider secrets ---------------------------------------------------------------------------------


def test_commands_that_only_read_or_queue_need_no_provider_secret(service_dir: Path, ctx: AppContext) -> None:
    pytest.importorskip("smpplib")
    with_smpp_link(service_dir)
    receipt = run_json(ctx, ["alarm", "send", "--summary", "disk full on db1"])
    assert receipt["outcome"] == "opened"
    assert run_json(ctx, ["incident", receipt["incident"]])["paged"] == ["alice"]
    assert [i["id"] for i in run_json(ctx, ["incidents"])["incidents"]] == [receipt["incident"]]
    assert run_json(ctx, ["oncall", "ops"])["oncall"][0]["person"] == "alice"
    run(ctx, ["incident", receipt["incident"]])
    run(ctx, ["queue"])
    run(ctx, ["ack", receipt["incident"], "--as", "alice"])


def test_serve_still_refuses_to_start_without_the_secret(service_dir: Path, ctx: AppContext) -> None:
    pytest.importorskip("smpplib")
    with_smpp_link(service_dir)
    result = run(ctx, ["serve", "--listen", "127.0.0.1:1"], expect=1)
    assert result.stdout == ""
    assert result.stderr == (
        "Error: provider 'smsc': environment variable MEMOGUARD_TEST_UNSET_SMPP (password_env) is not set or empty\n"
    )


def test_check_warns_about_a_provider_secret_it_cannot_read(service_dir: Path, ctx: AppContext) -> None:
    with_smpp_link(service_dir)
    result = run(ctx, ["check"])
    assert result.stderr.splitlines() == [
        "warning: provider 'smsc': environment variable MEMOGUARD_TEST_UNSET_SMPP (password_env) is not set or"
        " empty: `memoguard serve` refuses to start without it"
    ]
    assert "is valid" in result.stdout
