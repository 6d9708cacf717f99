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
import os
import re
import socket
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from memoguard import bootstrap
from memoguard.cli import cli
from memoguard.cli.context import AppContext
from memoguard.engine.runtime import Engine
from memoguard.http.app import create_app
from memoguard.services.action import Verb
from memoguard.services.heartbeat import ALIVE_WITHIN
from memoguard.services.inbox import Inbound, Receipt
from memoguard.services.provider import DeliveryError
from tests.conftest import FakeClock
from tests.integration.test_http import serving
from tests.support.delivery import CONSOLE_ONLY, TWO_SMS_PROVIDERS, Builder, World

NO_ENGINE = "pages are queued, not sent, and escalation timers wait until `memoguard serve` runs on it"
NEVER = f"warning: no memoguard service has run its engine on this database: {NO_ENGINE}"

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


# --- whether a service runs its engine ----------------------------------------------------------------


@pytest.fixture
def engine(service_dir: Path, fake_clock: FakeClock) -> Iterator[Engine]:
    """A service's engine on the test database and clock, started as ``serve`` starts it (which beats
    once); its periodic beat is set far away so that only the test decides when it beats again."""
    app = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    running = Engine(app, sweep_seconds=60.0, beat_seconds=3600.0)
    yield running
    running.stop()
    app.store.close()


def warnings(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("warning:")]


def test_without_a_service_the_commands_say_pages_are_only_queued(ctx: AppContext) -> None:
    sent = run(ctx, ["alarm", "send", "--summary", "disk full on db1"])
    assert "opened incident 1" in sent.stdout
    assert warnings(sent) == [NEVER]
    assert warnings(run(ctx, ["incident", "1"])) == [NEVER]
    assert warnings(run(ctx, ["incident", "1", "--json"])) == [NEVER]  # stdout stays JSON
    queue = run(ctx, ["queue"])
    assert warnings(queue) == [NEVER]
    assert re.search(r"│ console\s+│\s+1 │\s+0 │\s+0 │\s+0 │ no limit │ -\s+│ now\s+│ no service │", queue.stdout)
    assert run_json(ctx, ["queue"])["engines"] == []
    run(ctx, ["resolve", "1", "--as", "alice"])
    assert warnings(run(ctx, ["incident", "1"])) == []  # nothing left to send or to fire: nothing to say


def test_a_running_engine_silences_the_warning_until_its_beat_is_stale(
    ctx: AppContext, engine: Engine, fake_clock: FakeClock
) -> None:
    engine.start()
    sent = run(ctx, ["alarm", "send", "--summary", "disk full on db1"])
    assert warnings(sent) == []
    assert warnings(run(ctx, ["incident", "1"])) == []
    queue = run_json(ctx, ["queue"])
    assert [(e["host"], e["pid"], e["stopped_at"]) for e in queue["engines"]] == [
        (socket.gethostname(), os.getpid(), None)
    ]
    assert queue["engines"][0]["last_beat"] == fake_clock.now().isoformat()

    fake_clock.advance(ALIVE_WITHIN)  # three beats missed, to the second: still taken for running
    assert warnings(run(ctx, ["queue"])) == []
    fake_clock.advance(timedelta(seconds=1))
    since = "2026-11-17 11:00:00"  # its last beat, in Paris
    stale = (
        f"warning: no memoguard service has run its engine on this database since {since}"
        f" ({socket.gethostname()}, pid {os.getpid()}, last seen): {NO_ENGINE}"
    )
    for command in (["alarm", "send", "--summary", "cpu"], ["incident", "1"], ["queue"]):
        assert warnings(run(ctx, command)) == [stale], command

    engine.beat()  # the engine's beat job, come round again
    assert warnings(run(ctx, ["queue"])) == []


def test_an_engine_that_stopped_says_when(ctx: AppContext, engine: Engine, fake_clock: FakeClock) -> None:
    engine.start()
    fake_clock.advance(timedelta(seconds=5))
    engine.stop()
    stopped = (
        "warning: no memoguard service has run its engine on this database since 2026-11-17 11:00:05"
        f" ({socket.gethostname()}, pid {os.getpid()}, stopped): {NO_ENGINE}"
    )
    assert warnings(run(ctx, ["queue"])) == [stopped]


def test_a_beat_job_still_running_at_the_stop_does_not_revive_the_engine(
    ctx: AppContext, engine: Engine, fake_clock: FakeClock
) -> None:
    """The scheduler is shut down without waiting for a beat job in progress: a beat that comes after
    the stop must not write the engine back as running."""
    engine.start()
    fake_clock.advance(timedelta(seconds=5))
    engine.stop()
    engine.heartbeat.beat()  # the job that was already running when the engine stopped
    stopped = (
        "warning: no memoguard service has run its engine on this database since 2026-11-17 11:00:05"
        f" ({socket.gethostname()}, pid {os.getpid()}, stopped): {NO_ENGINE}"
    )
    assert warnings(run(ctx, ["queue"])) == [stopped]


def test_a_page_dropped_unsent_is_not_shown_as_paged(build: Builder) -> None:
    """Stage fencing drops a page whose step is over before it goes: the incident's "paged" line must not
    name that person as if they had been woken."""
    w = build(CONSOLE_ONLY)
    [incident] = w.open("db-1")
    with w.app.store.write() as unit:
        [page] = unit.notifications(incident)
        unit.notification_cancelled(page.id, "not sent: step 1 is over, step 2 was paged since")
    ctx = AppContext(w.app.config.directory, clock=w.clock)
    try:
        out = run(ctx, ["incident", incident]).stdout
    finally:
        ctx.close()
    assert "paged            alice (not sent: dropped)" in out


def test_a_stalled_engine_does_not_beat(ctx: AppContext, engine: Engine, fake_clock: FakeClock) -> None:
    engine.start()
    engine.timers.stop()  # a loop that no longer comes round: the engine is not alive
    fake_clock.advance(ALIVE_WITHIN + timedelta(seconds=1))
    engine.beat()
    assert len(warnings(run(ctx, ["queue"]))) == 1


def test_readyz_of_another_instance_lists_the_engines_seen_alive(
    service_dir: Path, engine: Engine, fake_clock: FakeClock
) -> None:
    other = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    api = create_app(other, lambda: True)
    try:
        with serving(api) as url, httpx.Client(base_url=url, timeout=10) as client:
            assert client.get("/readyz").json() == {
                "status": "ready",
                "config_hash": other.config.digest,
                "engines": [],
            }
            engine.start()
            body = client.get("/readyz").json()
            assert [(e["instance"], e["host"], e["pid"]) for e in body["engines"]] == [
                (engine.heartbeat.instance, socket.gethostname(), os.getpid())
            ]
            assert body["engines"][0]["started_at"] == fake_clock.now().isoformat()
            fake_clock.advance(ALIVE_WITHIN + timedelta(seconds=1))
            assert client.get("/readyz").json()["engines"] == []
    finally:
        other.store.close()


# --- how the incident view words each notification ----------------------------------------------------

ALICE = "+33612345601"


@pytest.fixture
def build(service_dir: Path, fake_clock: FakeClock) -> Iterator[Builder]:
    """Worlds of tests/support/delivery.py: an application whose dispatcher's providers are fakes."""
    builder = Builder(service_dir, fake_clock)
    yield builder
    builder.close()


def view(w: World, clock: FakeClock, incident: str) -> tuple[dict[str, Any], str]:
    """``incident ID --json`` and the table, through the CLI on the world's configuration and database."""
    context = AppContext(w.app.config.directory, clock=clock)
    try:
        return run_json(context, ["incident", incident]), run(context, ["incident", incident]).stdout
    finally:
        context.close()


def row_of(out: str, notification: int) -> str:
    [line] = [line for line in out.splitlines() if line.startswith(f"│ {notification:>2} │")]
    return " ".join(line.replace("│", " ").split())


def test_a_page_sent_at_the_first_try_counts_one_attempt_and_shows_its_receipt(
    build: Builder, fake_clock: FakeClock
) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = w.open("db-1", policy="quiet")
    w.settle()
    shown, out = view(w, fake_clock, incident)
    [page] = shown["notifications"]
    assert (page["status"], page["attempts"], page["provider"], page["error"], page["receipt"]) == (
        "sent",
        1,
        "console",
        None,
        None,
    )
    assert row_of(out, page["id"]) == f"{page['id']} alice sms page sent 1 via console"
    assert "alice (queued" not in out

    fake_clock.advance(timedelta(seconds=7))
    w.app.replies.receipt(Receipt("console", f"console-{page['id']}", "DELIVRD", at=fake_clock.now()))
    shown, out = view(w, fake_clock, incident)
    assert shown["notifications"][0]["receipt"] == {
        "state": "DELIVRD",
        "delivered": True,
        "at": fake_clock.now().isoformat(),
    }
    assert row_of(out, page["id"]).endswith("sent 1 via console; delivered (DELIVRD) at 2026-11-17 11:00:07")


def test_attempts_go_on_counting_across_a_failover_and_the_last_error_goes_once_sent(
    build: Builder, fake_clock: FakeClock
) -> None:
    w = build(TWO_SMS_PROVIDERS, ("console", "backup", "mailer"))
    w.providers["console"].failures = [DeliveryError("SMSC timeout", retryable=True)]
    [incident] = w.open("db-1", policy="quiet")
    w.settle()
    shown, out = view(w, fake_clock, incident)
    [page] = shown["notifications"]
    assert (page["status"], page["attempts"], page["error"]) == ("pending", 1, "SMSC timeout")
    assert row_of(out, page["id"]) == f"{page['id']} alice sms page queued 1 retrying after: SMSC timeout"

    w.providers["console"].failures = [DeliveryError("invalid destination", retryable=False)]
    w.run()
    shown, out = view(w, fake_clock, incident)
    [page] = shown["notifications"]
    assert (page["status"], page["attempts"], page["provider"], page["provider_index"], page["error"]) == (
        "sent",
        3,
        "backup",
        1,
        None,
    )
    assert row_of(out, page["id"]) == f"{page['id']} alice sms page sent 3 via backup (after console failed)"


def test_a_receipt_saying_not_delivered_is_shown_on_the_notification(build: Builder, fake_clock: FakeClock) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = w.open("db-1", policy="quiet")
    w.settle()
    w.app.actions.act(incident, Verb.ACK, "alice", "cli")  # nobody waits for the page: the receipt is only recorded
    [page] = [n for n in w.rows(incident) if n.purpose == "page"]
    w.app.replies.receipt(Receipt("console", f"console-{page.id}", "UNDELIV", at=fake_clock.now()))
    shown, out = view(w, fake_clock, incident)
    [viewed] = [n for n in shown["notifications"] if n["id"] == page.id]
    assert viewed["receipt"] == {"state": "UNDELIV", "delivered": False, "at": fake_clock.now().isoformat()}
    assert row_of(out, page.id).endswith("via console; NOT delivered (UNDELIV) at 2026-11-17 11:00:00")


def test_the_answer_to_an_sms_reply_reads_naturally(build: Builder, fake_clock: FakeClock) -> None:
    w = build(CONSOLE_ONLY)
    [incident] = w.open("db-1", policy="quiet")
    w.settle()
    w.app.replies.reply(Inbound("console", ALICE, "memoguard", "1a"))
    w.settle()
    [answer] = [n for n in w.rows(incident) if n.purpose == "reply"]
    w.app.replies.receipt(Receipt("console", f"console-{answer.id}", "DELIVRD", at=fake_clock.now()))
    shown, _ = view(w, fake_clock, incident)
    notified = [e["text"] for e in shown["timeline"] if e["kind"] in ("notified", "delivery_receipt")]
    assert notified[-2:] == [
        f"Answer to alice's reply #{answer.id} sent via console (ref console-{answer.id})",
        f"Answer to alice's reply #{answer.id} delivered (DELIVRD), receipt from console",
    ]


def test_a_page_not_sent_yet_is_not_said_to_be_sent(ctx: AppContext) -> None:
    run(ctx, ["alarm", "send", "--summary", "disk full on db1"])
    shown = run_json(ctx, ["incident", "1"])
    assert [e["text"] for e in shown["timeline"] if e["kind"] == "paged"] == [
        "Page queued for alice: step 1 via sms, email; acknowledgement expected within 5m"
    ]
    out = run(ctx, ["incident", "1"]).stdout
    assert "paged            alice (queued, not sent yet)" in out
    assert row_of(out, 1) == "1 alice sms page queued 0 not sent yet"
