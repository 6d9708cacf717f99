"""The self-test page (issue 19, services/selftest.py), on every database, with the fake clock: it fires
on its schedule once across restarts and instances, pages the on-call person on each of their channels,
an acknowledged test ends there, an unacknowledged one escalates as an incident; ``memoguard selftest``.

The service fixture's clock starts on Tuesday 2026-11-17 10:00Z; alice is on call (sms, email), bob is
her secondary. The schedule here is Wednesdays 10:00 Paris (09:00Z), with 15 minutes to acknowledge.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.bootstrap.service import reload
from memoguard.cli import cli
from memoguard.domain.incident import IncidentState
from memoguard.services.access import Context
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.inbox import Inbound
from memoguard.services.live import Live
from memoguard.services.provider import DeliveryError
from memoguard.services.selftest import SelfTester
from tests.conftest import FakeClock
from tests.support.delivery import Builder

RUN = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Paris
TIMEOUT = timedelta(minutes=15)
ALICE = "+33612345601"


@pytest.fixture
def selftest_dir(service_dir: Path) -> Path:
    main = service_dir / "memoguard.yaml"
    with main.open("a", encoding="utf-8") as out:
        out.write('self_test: {every: "wed 10:00", to: "roster:ops", policy: simple, timeout: 15m}\n')
    return service_dir


@contextmanager
def instance(directory: Path, clock: FakeClock) -> Iterator[Application]:
    application = bootstrap.application(bootstrap.load(directory), clock)
    try:
        yield application
    finally:
        store = application.store
        assert isinstance(store, SqlStore)
        store.close()


def self_tester(app: Application) -> SelfTester:
    assert app.selftest is not None
    return app.selftest


def pages(app: Application, incident: str) -> list[tuple[str, tuple[str, ...], int | None]]:
    with app.store.read() as unit:
        return [(n.person, n.channels, n.step) for n in unit.notifications(incident) if n.purpose == "page"]


def only_incident(app: Application) -> str:
    with app.store.read() as unit:
        rows = unit.test_run()
    assert rows is not None and rows.incident is not None
    return rows.incident


def test_it_fires_on_schedule_once_across_restarts_and_instances(selftest_dir: Path, fake_clock: FakeClock) -> None:
    with instance(selftest_dir, fake_clock) as first:
        assert self_tester(first).declare() is True
        assert self_tester(first).next_due() == RUN
        fake_clock.advance(RUN - fake_clock.now() - timedelta(seconds=1))
        assert self_tester(first).check_due() == 0
    # A restart: the schedule is in the database, not given again.
    with instance(selftest_dir, fake_clock) as second, instance(selftest_dir, fake_clock) as third:
        assert self_tester(second).declare() is False and self_tester(third).declare() is False
        fake_clock.advance(timedelta(seconds=1))
        assert self_tester(second).check_due() == 1
        assert self_tester(third).check_due() == 0  # the other instance finds the run taken
        incident = only_incident(second)
        # alice (on call) on each of her channels at once, one page each.
        assert sorted(pages(second, incident)) == [("alice", ("email",), 0), ("alice", ("sms",), 0)]
        assert self_tester(third).next_due() == RUN + TIMEOUT
        with second.store.read() as unit:
            texts = [e.text for e in unit.timeline(incident)]
            opened = unit.incident(incident)
        assert any(t.startswith("Self-test (wed 10:00 Europe/Paris): a test page to roster:ops") for t in texts)
        assert opened is not None and "self-test page" in opened.summary and "page de test" in opened.summary


def test_a_test_acknowledged_by_sms_is_resolved_and_nothing_more_happens(
    selftest_dir: Path, fake_clock: FakeClock
) -> None:
    with instance(selftest_dir, fake_clock) as app:
        self_tester(app).declare()
        fake_clock.advance(RUN - fake_clock.now())
        assert self_tester(app).check_due() == 1
        incident = only_incident(app)
        with app.store.read() as unit:
            texts = {n.channels: n.text for n in unit.notifications(incident)}
        assert "page de test" in texts[("sms",)] and texts[("sms",)].endswith(f"Répondez {incident}a pour acquitter.")
        fake_clock.advance(timedelta(minutes=3))
        app.replies.reply(Inbound("console", ALICE, "memoguard", f"{incident}a"))  # as from her phone
        fake_clock.advance(TIMEOUT)
        app.timers.fire_due()
        assert self_tester(app).check_due() == 1
        with app.store.read() as unit:
            found = unit.incident(incident)
            run = unit.test_run()
            texts = [e.text for e in unit.timeline(incident)]
        assert found is not None and found.state == IncidentState.RESOLVED
        assert "Self-test passed: the test page was acknowledged" in texts
        assert run is not None and run.state == "waiting" and run.last_outcome == "passed"
        assert run.due == RUN + timedelta(weeks=1)
        assert [p for p in pages(app, incident) if p[0] != "alice"] == []  # nobody else was paged
        fake_clock.advance(timedelta(hours=2))
        app.timers.fire_due()
        assert self_tester(app).check_due() == 0
        assert [p for p in pages(app, incident) if p[0] != "alice"] == []


def test_an_unacknowledged_test_escalates_as_an_incident(selftest_dir: Path, fake_clock: FakeClock) -> None:
    with instance(selftest_dir, fake_clock) as app:
        self_tester(app).declare()
        fake_clock.advance(RUN - fake_clock.now())
        self_tester(app).check_due()
        incident = only_incident(app)
        fake_clock.advance(TIMEOUT)
        app.timers.fire_due()  # the test step's window is over: policy simple's first step
        assert self_tester(app).check_due() == 1
        with app.store.read() as unit:
            found = unit.incident(incident)
            run = unit.test_run()
            texts = [e.text for e in unit.timeline(incident)]
        assert found is not None and found.state == IncidentState.TRIGGERED and found.step == 1
        assert any(t.startswith("Self-test failed: the test page was not acknowledged within 15m") for t in texts)
        assert run is not None and run.last_outcome == "failed" and run.due == RUN + timedelta(weeks=1)
        # simple's first step pages roster:ops by sms and email, as any incident's (failover order, one row).
        assert ("alice", ("sms", "email"), 1) in pages(app, incident)
        fake_clock.advance(timedelta(minutes=5))
        app.timers.fire_due()  # and on: simple's second step, the secondary
        assert ("bob", ("sms",), 2) in pages(app, incident)


def test_a_run_missed_while_no_engine_ran_goes_out_once(selftest_dir: Path, fake_clock: FakeClock) -> None:
    with instance(selftest_dir, fake_clock) as app:
        self_tester(app).declare()
    fake_clock.advance(RUN - fake_clock.now() + timedelta(weeks=3))  # three Wednesdays without a service
    with instance(selftest_dir, fake_clock) as app:
        assert self_tester(app).check_due() == 1
        assert self_tester(app).check_due() == 0
        assert self_tester(app).next_due() == fake_clock.now() + TIMEOUT


def test_selftest_command_sends_one_now(selftest_dir: Path, fake_clock: FakeClock) -> None:
    result = CliRunner().invoke(cli, ["--config", str(selftest_dir), "selftest"])
    assert result.exit_code == 0, result.output
    assert "self-test page queued: incident 1, to roster:ops" in result.output
    with instance(selftest_dir, fake_clock) as app:
        assert only_incident(app) == "1"
    again = CliRunner().invoke(cli, ["--config", str(selftest_dir), "selftest"])
    assert again.exit_code == 1
    assert "a self-test page is already waiting for its acknowledgement: incident 1, until" in again.output


def test_selftest_command_without_a_self_test_says_so(service_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(service_dir), "selftest"])
    assert result.exit_code == 1
    assert "no self_test in memoguard.yaml" in result.output


def test_the_schedule_keeps_its_wall_clock_time_across_daylight_saving(service_dir: Path) -> None:
    main = service_dir / "memoguard.yaml"
    with main.open("a", encoding="utf-8") as out:
        out.write('self_test: {every: "sun 02:30", to: "roster:ops", policy: simple, timeout: 15m}\n')
    clock = FakeClock(datetime(2027, 3, 27, 12, 0, tzinfo=UTC))  # the Saturday before the clocks go forward
    with instance(service_dir, clock) as app:
        self_tester(app).declare()
        # 02:30 does not exist on that night in Paris: the run is at the change, 03:00 CEST (01:00Z).
        change = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
        assert self_tester(app).next_due() == change
        clock.advance(change - clock.now())
        assert self_tester(app).check_due() == 1
        clock.advance(TIMEOUT)
        assert self_tester(app).check_due() == 1
        assert self_tester(app).next_due() == datetime(2027, 4, 4, 0, 30, tzinfo=UTC)  # 02:30 CEST


TWO_PROVIDERS = """\
channels:
  sms: [texts]
  email: [mails]
  voice: [texts]
providers:
  texts: {kind: console}
  mails: {kind: console}
self_test: {every: "wed 10:00", to: "roster:ops", policy: simple, timeout: 15m}
"""


def test_each_channel_is_proven_and_one_broken_fails_the_test_at_once(build: Builder) -> None:
    w = build(TWO_PROVIDERS, fakes=("texts", "mails"))
    w.providers["mails"].fail = lambda _: DeliveryError("550 mailbox unavailable", retryable=False)
    incident = self_tester(w.app).run_now()
    w.settle()
    # One page per channel, each through its own provider: the e-mail could not be delivered...
    assert [m.channel for _, m in w.providers["mails"].calls] == ["email"] and w.providers["mails"].sent == []
    # ...and a broken channel is what the test looks for: the incident escalates at once, undeliverable,
    # to policy simple's first step (roster:ops by sms, then email: alice again, by sms this time).
    assert w.incident(incident).step == 1
    assert "unreachable" in w.kinds(incident)
    steps = [(n.channels, n.step, n.status.value) for n in w.rows(incident) if n.purpose == "page"]
    assert sorted(steps) == [(("email",), 0, "failed"), (("sms",), 0, "sent"), (("sms", "email"), 1, "sent")]
    # The next step's acknowledgement ends the incident, not the test's verdict: a channel was broken.
    w.app.actions.act(incident, Verb.ACK, "alice", "sms", Context("test"))
    w.clock.advance(TIMEOUT)
    assert self_tester(w.app).check_due() == 1
    with w.app.store.read() as unit:
        run = unit.test_run()
        texts = [e.text for e in unit.timeline(incident)]
    assert run is not None and run.last_outcome == "failed"
    assert "Self-test passed: the test page was acknowledged" not in texts
    assert any(t.startswith("Self-test failed: a test page could not be delivered") for t in texts)


def test_a_reload_schedules_a_self_test_it_adds_and_follows_a_changed_schedule(
    service_dir: Path, fake_clock: FakeClock
) -> None:
    main = service_dir / "memoguard.yaml"
    plain = main.read_text(encoding="utf-8")
    with instance(service_dir, fake_clock) as app:
        live = Live(app)
        main.write_text(plain + 'self_test: {every: "wed 10:00", to: "roster:ops", policy: simple, timeout: 15m}\n')
        fresh = reload(live, service_dir)
        assert self_tester(fresh).next_due() == RUN  # added by the reload: scheduled without a restart
        main.write_text(plain + 'self_test: {every: "thu 10:00", to: "roster:ops", policy: simple, timeout: 15m}\n')
        fresher = reload(live, service_dir)
        assert self_tester(fresher).next_due() == RUN + timedelta(days=1)  # the new schedule, not the old one
