"""Heartbeats of the monitoring (dead man's switches, services/deadman.py), on every database, with the
fake clock: a miss opens an incident through the routes, the next ping resolves it, the deadline
survives a restart, two instances open one incident; the ping route over HTTP (tokens, Alertmanager's
Watchdog body); ``memoguard heartbeats``.

The service fixture's heartbeats run four weeks (so no other test meets a miss); ``short_dir`` makes
``backup`` ping every 5 minutes with 1 minute of grace.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.bootstrap.service import ReloadRefused, reload
from memoguard.cli import cli
from memoguard.cli.context import AppContext
from memoguard.config.problem import ConfigError
from memoguard.domain.incident import IncidentState
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.live import Live
from tests.conftest import FakeClock
from tests.integration.test_http import ADMIN, ALERTMANAGER, MONITORING, PROMETHEUS, Served, detail

BACKUP = {"Authorization": "Bearer backup-secret"}
PERIOD = timedelta(minutes=6)  # every 5m + grace 1m


@pytest.fixture
def short_dir(service_dir: Path) -> Path:
    main = service_dir / "memoguard.yaml"
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("heartbeat: 4w, grace: 1h", "heartbeat: 5m, grace: 1m"), encoding="utf-8")
    return service_dir


@contextmanager
def instance(directory: Path, clock: FakeClock) -> Iterator[Application]:
    """One memoguard process on the directory's database (as many as wanted, one after the other or at once)."""
    application = bootstrap.application(bootstrap.load(directory), clock)
    try:
        yield application
    finally:
        store = application.store
        assert isinstance(store, SqlStore)
        store.close()


def backup(app: Application) -> dict[str, object]:
    (found,) = [s.describe() for s in app.deadman.status() if s.name == "backup"]
    return found


def pages(app: Application, incident: str) -> list[str]:
    with app.store.read() as unit:
        return [n.person for n in unit.notifications(incident) if n.purpose == "page"]


def test_a_missed_heartbeat_opens_one_incident_and_the_next_ping_resolves_it(
    short_dir: Path, fake_clock: FakeClock
) -> None:
    with instance(short_dir, fake_clock) as app:
        assert backup(app)["state"] == "undeclared"
        assert app.deadman.declare() == 2 and app.deadman.declare() == 0
        assert backup(app)["state"] == "waiting"
        fake_clock.advance(PERIOD - timedelta(seconds=1))
        assert app.deadman.check_due() == 0
        fake_clock.advance(timedelta(seconds=1))
        assert app.deadman.check_due() == 1
        assert app.deadman.check_due() == 0  # once: the row is missed, its next look one period on
        shown = backup(app)
        assert shown["state"] == "missed" and shown["deadline"] == (fake_clock.now() + PERIOD).isoformat()
        incident = str(shown["incident"])
        with app.store.read() as unit:
            row = unit.incident_row(incident)
            assert row is not None and row.source == "backup"
            assert row.incident.summary == (
                "heartbeat backup missed: never pinged since it was declared at 2026-11-17 10:00:00Z"
                " (expected every 5m, grace 1m)"
            )
        assert pages(app, incident) == ["alice"]  # through the routes: the default one, policy simple

        fake_clock.advance(timedelta(minutes=30))
        done = app.deadman.ping("backup")
        assert done.resolved is not None and done.resolved.incident == incident
        with app.store.read() as unit:
            row = unit.incident_row(incident)
            assert row is not None and row.incident.state == IncidentState.RESOLVED
            assert ("source_resolved", "backup reports the alarm resolved") in [
                (e.kind, e.text) for e in unit.timeline(incident)
            ]
        shown = backup(app)
        assert shown["state"] == "up" and shown["deadline"] == (fake_clock.now() + PERIOD).isoformat()

        # The next miss says since when, and opens a new incident.
        fake_clock.advance(PERIOD)
        assert app.deadman.check_due() == 1
        with app.store.read() as unit:
            row = unit.incident_row(str(backup(app)["incident"]))
            assert row is not None and row.incident.id != incident
            assert "no ping since 2026-11-17 10:36:00Z" in row.incident.summary


def test_a_heartbeat_still_dead_reopens_once_its_incident_was_resolved_by_hand(
    short_dir: Path, fake_clock: FakeClock
) -> None:
    # Issue 17: once missed, a heartbeat fired no more until a ping; resolving its incident by hand while
    # the source was still dead silenced it for good.
    with instance(short_dir, fake_clock) as app:
        app.deadman.declare()
        fake_clock.advance(PERIOD)
        assert app.deadman.check_due() == 1
        first = str(backup(app)["incident"])
        missed_at = fake_clock.now()

        # While its incident is open, each deadline only pushes the next one on: no second incident.
        fake_clock.advance(PERIOD)
        assert app.deadman.check_due() == 1
        shown = backup(app)
        assert (shown["state"], shown["incident"]) == ("missed", first)
        assert shown["deadline"] == (fake_clock.now() + PERIOD).isoformat()
        with app.store.read() as unit:
            assert [r.incident.id for r in unit.incidents([], 10)] == [first]

        app.actions.act(first, Verb.RESOLVE, "alice", "api")
        fake_clock.advance(PERIOD - timedelta(seconds=1))
        assert app.deadman.check_due() == 0
        fake_clock.advance(timedelta(seconds=1))
        assert app.deadman.check_due() == 1
        shown = backup(app)
        second = str(shown["incident"])
        assert second != first and (shown["state"], shown["since"]) == ("missed", missed_at.isoformat())
        with app.store.read() as unit:
            row = unit.incident_row(second)
            assert row is not None and row.incident.state == IncidentState.TRIGGERED
            assert row.incident.summary.startswith("heartbeat backup still missed, its last incident was resolved:")
        assert pages(app, second) == ["alice"]  # through the routes again

        # The ping resolves the new one.
        done = app.deadman.ping("backup")
        assert done.resolved is not None and done.resolved.incident == second
        assert backup(app)["state"] == "up"


def test_a_miss_reopens_after_a_restart_too(short_dir: Path, fake_clock: FakeClock) -> None:
    with instance(short_dir, fake_clock) as first:
        first.deadman.declare()
        fake_clock.advance(PERIOD)
        assert first.deadman.check_due() == 1
        first.actions.act(str(backup(first)["incident"]), Verb.RESOLVE, "alice", "api")
    fake_clock.advance(timedelta(hours=3))  # down meanwhile
    with instance(short_dir, fake_clock) as second:
        assert second.deadman.check_due() == 1
        with second.store.read() as unit:
            assert [r.incident.state for r in unit.incidents([], 10)] == [
                IncidentState.TRIGGERED,
                IncidentState.RESOLVED,
            ]


def test_a_heartbeat_missed_before_the_upgrade_gets_a_deadline_at_start(short_dir: Path, fake_clock: FakeClock) -> None:
    # Rows missed by an earlier version have no deadline: the engine's start gives them one.
    with instance(short_dir, fake_clock) as app:
        app.deadman.declare()
        fake_clock.advance(PERIOD)
        assert app.deadman.check_due() == 1
        with app.store.write() as unit:
            (pulse,) = unit.pulses(["backup"])
            unit.save_pulse(replace(pulse, deadline=None))
        app.actions.act(str(pulse.incident), Verb.RESOLVE, "alice", "api")
    fake_clock.advance(timedelta(hours=1))
    with instance(short_dir, fake_clock) as app:
        assert app.deadman.declare() == 0
        assert backup(app)["deadline"] == (fake_clock.now() + PERIOD).isoformat()
        fake_clock.advance(PERIOD)
        assert app.deadman.check_due() == 1
        assert backup(app)["incident"] != pulse.incident


def test_pings_before_the_deadline_keep_it_up(short_dir: Path, fake_clock: FakeClock) -> None:
    with instance(short_dir, fake_clock) as app:
        app.deadman.declare()
        for _ in range(10):
            fake_clock.advance(timedelta(minutes=5, seconds=59))
            assert app.deadman.check_due() == 0
            assert app.deadman.ping("backup").resolved is None
        assert backup(app)["state"] == "up"
        assert app.deadman.next_due() == fake_clock.now() + PERIOD


def test_the_deadline_survives_a_restart(short_dir: Path, fake_clock: FakeClock) -> None:
    with instance(short_dir, fake_clock) as first:
        first.deadman.declare()
        fake_clock.advance(timedelta(minutes=4))
        first.deadman.ping("backup")
    fake_clock.advance(timedelta(hours=2))  # down meanwhile: the miss is decided when it comes back
    with instance(short_dir, fake_clock) as second:
        assert second.deadman.declare() == 0  # the row is kept: no fresh period after a restart
        assert second.deadman.check_due() == 1
        assert "no ping since 2026-11-17 10:04:00Z" in str(
            second.incidents.show(str(backup(second)["incident"]))["summary"]
        )


def test_two_instances_open_one_incident(short_dir: Path, fake_clock: FakeClock) -> None:
    with instance(short_dir, fake_clock) as one, instance(short_dir, fake_clock) as two:
        one.deadman.declare()
        fake_clock.advance(PERIOD)
        start = threading.Barrier(2)
        fired: list[int] = []

        def check(app: Application) -> None:
            start.wait()
            fired.append(app.deadman.check_due())

        threads = [threading.Thread(target=check, args=(app,)) for app in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(fired) == [0, 1]
        with one.store.read() as unit:
            assert [r.source for r in unit.incidents([], 10)] == ["backup"]


def test_a_claimed_heartbeat_is_skipped_by_another_instance_until_released(
    short_dir: Path, fake_clock: FakeClock
) -> None:
    """PostgreSQL: the rows one instance holds are skipped by the other (SKIP LOCKED), not waited for;
    a claim that rolls back leaves the heartbeat due."""
    with instance(short_dir, fake_clock) as one, instance(short_dir, fake_clock) as two:
        store = one.store
        assert isinstance(store, SqlStore)
        if not store.postgres:
            pytest.skip("SQLite has one writer: the second instance would wait, as it does for every write")
        one.deadman.declare()
        fake_clock.advance(PERIOD)
        with pytest.raises(RuntimeError), store.write() as unit:
            assert [p.name for p in unit.claim_due_pulses(["backup"], fake_clock.now(), 10)] == ["backup"]
            assert two.deadman.check_due() == 0
            raise RuntimeError("this instance dies before its commit")
        assert two.deadman.check_due() == 1
        assert one.deadman.check_due() == 0


# --- HTTP ------------------------------------------------------------------------------------------------


def test_a_ping_needs_the_heartbeats_own_token(served: Served) -> None:
    url = "/api/v1/heartbeats/backup"
    assert served.client.post(url).status_code == 401
    answer = served.client.post(url, headers=MONITORING)
    assert answer.status_code == 403 and "belongs to source 'monitoring', not to heartbeat 'backup'" in detail(answer)
    assert served.client.post(url, headers=served.as_(ADMIN)).status_code == 401  # a person's token is no source's
    answer = served.client.post("/api/v1/heartbeats/monitoring", headers=MONITORING)
    assert answer.status_code == 404 and "source 'monitoring' declares no heartbeat" in detail(answer)
    answer = served.client.post(url, headers=BACKUP)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["pinged"] is True and body["resolved"] is None
    assert body["heartbeat"]["state"] == "up" and body["heartbeat"]["last_ping"] == served.clock.now().isoformat()


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b"not json", 400, "the body is not JSON"),
        (b"[1, 2]", 422, "expected a JSON object, got list"),
        (b'"up"', 422, "expected a JSON object, got str"),
    ],
)
def test_a_ping_body_that_is_not_an_object_is_refused(served: Served, content: bytes, status: int, words: str) -> None:
    answer = served.client.post("/api/v1/heartbeats/backup", content=content, headers=BACKUP)
    assert answer.status_code == status and words in detail(answer)
    assert served.application.deadman.status()[0].pulse is None  # nothing written


def test_alertmanagers_watchdog_pings_and_its_resolution_does_not(served: Served) -> None:
    watchdog = json.loads((ALERTMANAGER / "watchdog.json").read_text(encoding="utf-8"))
    url = "/api/v1/heartbeats/prometheus"
    answer = served.client.post(url, json=watchdog, headers=PROMETHEUS)
    assert answer.status_code == 200 and answer.json()["pinged"] is True
    first = answer.json()["heartbeat"]["last_ping"]
    served.clock.advance(timedelta(minutes=1))
    ended = {**watchdog, "status": "resolved", "alerts": [{**watchdog["alerts"][0], "status": "resolved"}]}
    answer = served.client.post(url, json=ended, headers=PROMETHEUS)
    assert answer.status_code == 200 and answer.json()["pinged"] is False
    assert answer.json()["heartbeat"]["last_ping"] == first
    assert served.alarm_count() == 0  # a heartbeat body is never stored as an alarm


def test_the_heartbeats_list_takes_a_persons_token(served: Served) -> None:
    assert served.client.get("/api/v1/heartbeats").status_code == 401
    assert served.client.get("/api/v1/heartbeats", headers=BACKUP).status_code == 401
    answer = served.client.get("/api/v1/heartbeats", headers=served.as_("carol"))
    assert answer.status_code == 200
    assert [(h["name"], h["every"], h["grace"], h["state"]) for h in answer.json()["heartbeats"]] == [
        ("backup", "4w", "1h", "undeclared"),
        ("prometheus", "4w", "0s", "undeclared"),
    ]


# --- CLI -------------------------------------------------------------------------------------------------


def test_memoguard_heartbeats_shows_each_with_its_state(short_dir: Path, fake_clock: FakeClock) -> None:
    with instance(short_dir, fake_clock) as app:
        app.deadman.declare()
        fake_clock.advance(timedelta(minutes=2))
        app.deadman.ping("prometheus")
        fake_clock.advance(PERIOD)
        app.deadman.check_due()
    context = AppContext(short_dir, clock=fake_clock)
    try:
        result = CliRunner().invoke(cli, ["heartbeats", "--json"], obj=context)
        assert result.exit_code == 0, result.output
        shown = {h["name"]: h for h in json.loads(result.output)["heartbeats"]}
        assert shown["backup"]["state"] == "missed" and shown["backup"]["incident"] == "1"
        assert shown["prometheus"]["state"] == "up" and shown["prometheus"]["last_ping"] == "2026-11-17T10:02:00+00:00"
        result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["heartbeats"], obj=context)
        assert result.exit_code == 0, result.output
        assert "missed" in result.output and "#1" in result.output and "2026-11-17 11:02" in result.output
    finally:
        context.close()


def test_a_heartbeat_source_needs_a_period_and_grace_needs_a_heartbeat(service_dir: Path) -> None:
    main = service_dir / "memoguard.yaml"
    text = main.read_text(encoding="utf-8")
    text = text.replace("heartbeat: 4w, grace: 1h", "grace: 1h").replace(
        "token_file: secrets/prometheus.token, heartbeat: 4w", "token_file: secrets/prometheus.token, grace: 5m"
    )
    main.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        bootstrap.load(service_dir)
    problems = str(raised.value)
    assert "a source of kind heartbeat needs heartbeat: how often it pings" in problems
    assert "grace is the lateness allowed to a heartbeat: set heartbeat too" in problems


def test_a_heartbeat_added_by_a_reload_is_declared_and_missed_on_time(service_dir: Path, fake_clock: FakeClock) -> None:
    main = service_dir / "memoguard.yaml"
    with_it = main.read_text(encoding="utf-8")
    main.write_text(with_it.replace(", heartbeat: 4w}", "}", 1), encoding="utf-8")
    with instance(service_dir, fake_clock) as app:
        assert app.deadman.declare() == 1  # backup's only
        main.write_text(with_it.replace("heartbeat: 4w}", "heartbeat: 5m}", 1), encoding="utf-8")

        fresh = reload(Live(app), service_dir)

        (shown,) = [s.describe() for s in fresh.deadman.status() if s.name == "prometheus"]
        assert shown["state"] == "waiting"
        fake_clock.advance(timedelta(minutes=5))
        assert fresh.deadman.check_due() == 1


def test_a_reload_that_changes_logging_is_refused_by_name(service_dir: Path, fake_clock: FakeClock) -> None:
    # The log handler is set up once at start (engine/logs.py): a reload cannot change it, and says so.
    main = service_dir / "memoguard.yaml"
    with instance(service_dir, fake_clock) as app:
        live = Live(app)
        main.write_text("logging: {format: json}\n" + main.read_text(encoding="utf-8"), encoding="utf-8")
        with pytest.raises(ReloadRefused, match="logging changed: a restart applies it"):
            reload(live, service_dir)
        assert live.current() is app
