"""What an operator sees of the outbox: ``memoguard queue`` (table, JSON, exit code) and /readyz when a
provider has been failing past its channel's deadline."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from memoguard import bootstrap
from memoguard.cli import cli
from memoguard.cli.context import AppContext
from memoguard.http.app import create_app
from memoguard.services.application import Application
from memoguard.services.record import Alarm, AlarmStatus
from tests.conftest import FakeClock
from tests.integration.test_http import serving


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed: connections are refused


@pytest.fixture
def config_dir(service_dir: Path) -> Path:
    main = service_dir / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace(
        "  sms: [console]\n", "  sms: {providers: [hook, console], deadline: 1m}\n"
    )
    hook = f"  hook: {{kind: webhook, url: 'http://127.0.0.1:{_closed_port()}/hook', rate: ['5/min']}}\n"
    main.write_text(text + hook, encoding="utf-8")
    return service_dir


@contextmanager
def _app(config_dir: Path, clock: FakeClock) -> Iterator[Application]:
    application = bootstrap.application(bootstrap.load(config_dir), clock)
    try:
        yield application
    finally:
        application.dispatcher.close()
        application.store.close()


def _fail_for(app: Application, clock: FakeClock, span: timedelta) -> None:
    """Open an incident and keep dispatching while the hook refuses connections for ``span``."""
    app.ingest.receive([Alarm("monitoring", "disk", AlarmStatus.FIRING, "critical", "disk full")])
    end = clock.now() + span
    while clock.now() < end:
        app.dispatcher.drain_all()
        clock.advance(timedelta(seconds=5))


def _queue(config_dir: Path, clock: FakeClock, *args: str) -> Result:
    context = AppContext(config_dir, clock=clock)
    try:
        return CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["queue", *args], obj=context)
    finally:
        context.close()


def test_queue_shows_each_provider_with_its_counts_and_windows(config_dir: Path, fake_clock: FakeClock) -> None:
    with _app(config_dir, fake_clock) as app:
        _fail_for(app, fake_clock, timedelta(seconds=20))  # within the deadline: still retrying the hook
        app.dispatcher.drain_all()  # whatever the jitter drew, the page now waits out a backoff
        with app.store.read() as unit:
            attempts = sum(1 for entry in unit.timeline("1") if entry.kind == "delivery_retry")

    result = _queue(config_dir, fake_clock, "--json")

    assert result.exit_code == 0, result.output
    providers = {p["provider"]: p for p in json.loads(result.stdout)["providers"]}
    assert set(providers) == {"console", "hook"}
    hook = providers["hook"]
    assert (hook["queued"], hook["in_flight"], hook["sent"], hook["failed"]) == (1, 0, 0, 0)
    assert attempts >= 2
    assert hook["windows"] == [{"rate": "5/min", "used": attempts, "limit": 5}]  # each attempt took a slot
    # Slots are left in the minute, but the page waits out its retry backoff: that is the next send.
    [held] = hook["held"]
    assert (held["purpose"], held["count"]) == ("page", 1)
    assert held["why"].startswith("retry after a failure (") and "ConnectError" in held["why"]
    assert hook["next_send_at"] == held["until"]
    assert hook["failing_since"] is not None and "ConnectError" in hook["last_error"]
    assert hook["failing"] is False
    assert providers["console"]["windows"] == []


def test_queue_exits_2_when_a_provider_fails_past_its_deadline(config_dir: Path, fake_clock: FakeClock) -> None:
    with _app(config_dir, fake_clock) as app:
        _fail_for(app, fake_clock, timedelta(minutes=3))
        with app.store.read() as unit:
            [page] = unit.notifications("1")
    assert page.provider == "console"  # failed over once the minute was up

    table = _queue(config_dir, fake_clock)
    as_json = _queue(config_dir, fake_clock, "--json")

    assert table.exit_code == 2
    assert "FAILING since" in table.stdout and "ConnectError" in table.stdout
    assert as_json.exit_code == 2
    hook = next(p for p in json.loads(as_json.stdout)["providers"] if p["provider"] == "hook")
    assert hook["failing"] is True


def test_readyz_reports_a_provider_failing_past_its_deadline(config_dir: Path, fake_clock: FakeClock) -> None:
    with (
        _app(config_dir, fake_clock) as app,
        serving(create_app(app, lambda: True)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        ready = client.get("/readyz")
        _fail_for(app, fake_clock, timedelta(minutes=3))
        failing = client.get("/readyz")

    assert ready.status_code == 200
    assert failing.status_code == 503
    body = failing.json()
    assert body["status"] == "unavailable"
    assert [p["provider"] for p in body["providers"]] == ["hook"]
    assert body["problems"][0].startswith("provider hook failing since ")


def test_queue_says_a_page_is_held_why_and_until_when(service_dir: Path, fake_clock: FakeClock) -> None:
    """A page kept back by the provider's rate limit is not "send now": the table and the JSON say it is
    held, why and until when, and the next send is then."""
    main = service_dir / "memoguard.yaml"
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("{kind: console, file: pages.jsonl}", '{kind: console, rate: ["1/min"]}'), "utf-8")
    with _app(service_dir, fake_clock) as app:
        app.ingest.receive(
            [Alarm("monitoring", key, AlarmStatus.FIRING, "critical", f"disk full on {key}") for key in ("a", "b")]
        )
        app.dispatcher.drain_all()
    fake_clock.advance(timedelta(seconds=20))

    table = _queue(service_dir, fake_clock)
    as_json = _queue(service_dir, fake_clock, "--json")

    assert table.exit_code == 0, table.output
    # 10:01:00 UTC is 11:01:00 in Europe/Paris, the configuration's zone.
    assert "1 page until 2026-11-17 11:01:00: rate limit of console (1/min)" in table.stdout
    assert "2026-11-17 11:01:00 (everything queued is held)" in table.stdout
    assert " now " not in table.stdout
    [console] = json.loads(as_json.stdout)["providers"]
    assert console["queued"] == 1
    [held] = console["held"]
    assert (held["purpose"], held["count"], held["why"]) == ("page", 1, "rate limit of console (1/min)")
    assert held["until"].startswith("2026-11-17T10:01:00") and held["until"] == console["next_send_at"]
