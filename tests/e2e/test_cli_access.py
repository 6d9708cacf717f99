"""``memoguard token create|list|revoke`` and ``memoguard audit`` through click's CliRunner, on the service
test configuration and every database (see test_cli_incidents.py). A token the CLI prints is then checked
by the service that authenticates the API (the same one the HTTP layer calls)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from memoguard.cli.context import AppContext
from tests.conftest import T0, FakeClock
from tests.e2e.test_cli_incidents import error, run, run_json


@pytest.fixture
def ctx(service_dir: Path, fake_clock: FakeClock) -> Iterator[AppContext]:
    context = AppContext(service_dir, clock=fake_clock)
    yield context
    context.close()


def _create(ctx: AppContext, *args: str) -> str:
    result = run(ctx, ["token", "create", *args])
    secret = result.stdout.strip()
    assert secret.startswith("mgp_") and len(secret) > 40, result.stdout
    assert "Shown once" in result.stderr
    return secret


def test_a_created_token_authenticates_its_person_and_is_stored_only_as_a_digest(ctx: AppContext) -> None:
    secret = _create(ctx, "--as", "alice", "--name", "laptop", "--expires", "90d")

    credential = ctx.application().access.authenticate(secret, "127.0.0.1")
    assert credential is not None
    assert (credential.person, credential.name, credential.admin) == ("alice", "laptop", False)
    (listed,) = run_json(ctx, ["token", "list", "--as", "alice"])["tokens"]
    assert listed["name"] == "laptop"
    assert listed["expires_at"] == (T0 + timedelta(days=90)).isoformat()
    assert secret not in json.dumps(listed)
    store = ctx.application().store
    with store.read() as unit:
        assert secret not in repr(unit.tokens())


def test_the_token_list_shows_every_state(ctx: AppContext, fake_clock: FakeClock) -> None:
    _create(ctx, "--as", "alice", "--name", "laptop")
    _create(ctx, "--as", "root", "--name", "short", "--expires", "1h")
    _create(ctx, "--as", "bob", "--name", "old")
    run(ctx, ["token", "revoke", "3"])
    fake_clock.advance(timedelta(hours=1))

    shown = run(ctx, ["token", "list"]).stdout

    for line, state in (("laptop", "active"), ("short", "expired"), ("old", "revoked")):
        (row,) = [r for r in shown.splitlines() if line in r]
        assert state in row, row
    assert [t["person"] for t in run_json(ctx, ["token", "list", "--as", "bob"])["tokens"]] == ["bob"]


def test_a_revoked_token_no_longer_authenticates(ctx: AppContext) -> None:
    secret = _create(ctx, "--as", "alice")

    result = run(ctx, ["token", "revoke", "1"])

    assert "Token #1 of alice (default) revoked." in result.stdout
    assert ctx.application().access.authenticate(secret, None) is None


def test_token_commands_refuse_bad_input(ctx: AppContext) -> None:
    assert "unknown person 'mallory'" in error(ctx, ["token", "create", "--as", "mallory"], 2)
    assert "--expires" in error(ctx, ["token", "create", "--as", "alice", "--expires", "soon"], 2)
    assert "name" in error(ctx, ["token", "create", "--as", "alice", "--name", " "], 2)
    assert "no token 7" in error(ctx, ["token", "revoke", "7"], 1)
    assert "unknown person 'mallory'" in error(ctx, ["token", "list", "--as", "mallory"], 2)
    assert run_json(ctx, ["token", "list"])["tokens"] == []


def test_the_audit_says_who_did_what_how_and_when(ctx: AppContext, fake_clock: FakeClock) -> None:
    _create(ctx, "--as", "alice", "--name", "laptop")
    run(ctx, ["alarm", "send", "--summary", "disk full on db1"])
    fake_clock.advance(timedelta(minutes=1))
    run(ctx, ["ack", "1", "--as", "alice"])
    ctx.application().access.authenticate("mgp_wrong", "192.0.2.7")
    run(ctx, ["token", "revoke", "1"])

    entries = run_json(ctx, ["audit"])["audit"]

    assert [(e["person"], e["action"], e["how"], e["target"]) for e in entries] == [
        (None, "token-create", "cli", "token 1"),
        ("alice", "ack", "cli", "1"),
        (None, "auth-failed", "bearer token", None),
        (None, "token-revoke", "cli", "token 1"),
    ]
    assert entries[2]["address"] == "192.0.2.7"
    assert entries[1]["at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert [e["action"] for e in run_json(ctx, ["audit", "--since", "30s"])["audit"]] == [
        "ack",
        "auth-failed",
        "token-revoke",
    ]
    table = run(ctx, ["audit"]).stdout
    assert "auth-failed" in table and "192.0.2.7" in table
    assert "--since: invalid date and time 'yesterday-ish'" in error(ctx, ["audit", "--since", "yesterday-ish"], 2)


def test_an_override_is_audited(ctx: AppContext) -> None:
    run(ctx, ["override", "add", "ops", "--who", "dave", "--from", "now", "--to", "+2h"])
    run(ctx, ["override", "remove", "1"])

    entries = run_json(ctx, ["audit"])["audit"]

    assert [(e["action"], e["how"], e["target"]) for e in entries] == [
        ("override-add", "cli", "override 1"),
        ("override-remove", "cli", "override 1"),
    ]
    assert "dave on ops/primary" in entries[0]["detail"]


def test_nothing_audited_yet(ctx: AppContext) -> None:
    assert "Nothing audited." in run(ctx, ["audit"]).stdout
