"""Maintenance windows (silences) through ingestion, the timers and the API, on every database: a
silenced alarm opens an incident that pages nobody, escalates at the window's end if still open and
never pages if resolved before; recurring windows of memoguard.yaml across the DST changes of
Europe/Paris; the routes (no token, a responder, an admin) and their audit; ``memoguard silence``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.cli import cli
from memoguard.cli.context import AppContext
from memoguard.config.problem import ConfigError
from memoguard.domain.event import TimerKind
from memoguard.domain.incident import IncidentState
from memoguard.domain.silence import Matcher
from memoguard.services import silences as silences_service
from memoguard.services.access import Context
from memoguard.services.application import Application
from memoguard.services.error import Invalid
from memoguard.services.record import Alarm, AlarmStatus, Outcome
from memoguard.services.silences import parse_matches
from tests.conftest import FakeClock
from tests.integration.test_http import ADMIN, MONITORING, Served, detail

SILENCES = "/api/v1/silences"
OPERATOR = Context("test", actor="root")
DB1 = Matcher(labels=(("host", "db1"),))
RECURRING = """silences:
  - name: sunday-night
    every: sunday 02:00-04:00
    timezone: Europe/Paris
    match: {labels: {host: db1}}
    comment: weekly patching
"""


@pytest.fixture
def app(service_dir: Path, fake_clock: FakeClock) -> Iterator[Application]:
    main = service_dir / "memoguard.yaml"
    main.write_text(main.read_text(encoding="utf-8") + RECURRING, encoding="utf-8")
    application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    try:
        yield application
    finally:
        store = application.store
        assert isinstance(store, SqlStore)
        store.close()


def fire(app: Application, status: AlarmStatus = AlarmStatus.FIRING, host: str = "db1") -> tuple[Outcome, str]:
    alarm = Alarm("monitoring", f"disk-{host}", status, "critical", f"Disk full on {host}", labels={"host": host})
    (receipt,) = app.ingest.receive([alarm])
    return receipt.outcome, str(receipt.incident)


def pages(app: Application, incident: str) -> list[str]:
    with app.store.read() as unit:
        return [n.person for n in unit.notifications(incident) if n.purpose == "page"]


def state(app: Application, incident: str) -> IncidentState:
    with app.store.read() as unit:
        found = unit.incident(incident)
    assert found is not None
    return found.state


def timeline(app: Application, incident: str) -> list[tuple[str, str]]:
    with app.store.read() as unit:
        return [(e.kind, e.text) for e in unit.timeline(incident)]


def test_a_silenced_alarm_pages_nobody_then_escalates_if_still_firing(app: Application, fake_clock: FakeClock) -> None:
    made = app.silences.add(DB1, timedelta(hours=2), "kernel upgrade", OPERATOR)
    assert made.id == "1"
    outcome, incident = fire(app)
    assert outcome == Outcome.SILENCED
    assert state(app, incident) == IncidentState.SILENCED and pages(app, incident) == []
    with app.store.read() as unit:
        (timer,) = unit.timers(incident)
    assert timer.kind == TimerKind.SILENCE_END and timer.due_at == fake_clock.now() + timedelta(hours=2)
    assert any("held by silence 1 (kernel upgrade) until" in text for kind, text in timeline(app, incident))
    # Still firing: more alarms join it, nobody is paged; another host is not held.
    fake_clock.advance(timedelta(minutes=30))
    assert fire(app)[0] == Outcome.ATTACHED and pages(app, incident) == []
    other = fire(app, host="db2")
    assert other[0] == Outcome.OPENED and pages(app, other[1]) == ["alice"]

    fake_clock.advance(timedelta(minutes=89))
    app.timers.fire_all_due()  # db2's escalation goes on meanwhile
    assert state(app, incident) == IncidentState.SILENCED and pages(app, incident) == []
    fake_clock.advance(timedelta(minutes=1))
    app.timers.fire_all_due()
    assert state(app, incident) == IncidentState.TRIGGERED
    assert pages(app, incident) == ["alice"]
    kinds = [kind for kind, _ in timeline(app, incident)]
    assert kinds.index("silenced") < kinds.index("silence_ended") < kinds.index("triggered") < kinds.index("paged")


def test_resolved_during_the_silence_it_never_pages(app: Application, fake_clock: FakeClock) -> None:
    app.silences.add(DB1, timedelta(hours=2), "kernel upgrade", OPERATOR)
    _, incident = fire(app)
    fake_clock.advance(timedelta(minutes=20))
    assert fire(app, AlarmStatus.RESOLVED)[0] == Outcome.RESOLVED
    fake_clock.advance(timedelta(hours=3))
    assert app.timers.fire_all_due() == 0  # its SILENCE_END timer went with the resolution
    assert state(app, incident) == IncidentState.RESOLVED
    with app.store.read() as unit:
        assert unit.notifications(incident) == []  # no page, and no notice of any kind
    assert ("resolved", "Resolved by the alarm source via monitoring while silenced: nobody was paged") in timeline(
        app, incident
    )


def test_removing_a_silence_escalates_what_it_held_unless_another_holds_it(
    app: Application, fake_clock: FakeClock
) -> None:
    made = app.silences.add(DB1, timedelta(hours=2), "kernel upgrade", OPERATOR)
    app.silences.add(Matcher(labels=(("host", "db2"),)), timedelta(hours=2), "db2 move", OPERATOR)
    app.silences.add(Matcher(sources=frozenset({"monitoring"})), timedelta(hours=1), "all monitoring", OPERATOR)
    _, db1 = fire(app)
    _, db2 = fire(app, host="db2")
    fake_clock.advance(timedelta(hours=1))  # "all monitoring" is over: only "kernel upgrade" holds db1 now
    app.silences.remove(made.id, OPERATOR)
    assert state(app, db1) == IncidentState.TRIGGERED and pages(app, db1) == ["alice"]
    kinds = [kind for kind, _ in timeline(app, db1)]
    assert kinds.index("silence_removed") < kinds.index("silence_ended") < kinds.index("paged")
    assert ("silence_removed", "silence 1 (kernel upgrade) was removed; no other window holds this incident") in (
        timeline(app, db1)
    )
    assert state(app, db2) == IncidentState.SILENCED and pages(app, db2) == []  # another silence's
    fake_clock.advance(timedelta(hours=1))
    app.timers.fire_all_due()
    assert pages(app, db2) == ["alice"]


def test_removing_a_silence_releases_every_incident_it_held_batch_after_batch(
    app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 17: only the newest 1,000 were released; the others waited for the old window's end. Batches
    # of 2 here stand for the real size, so a handful of incidents spans several.
    monkeypatch.setattr(silences_service, "RELEASE_BATCH", 2)
    made = app.silences.add(DB1, timedelta(hours=2), "kernel upgrade", OPERATOR)
    held = [fire(app, host="db1")[1]]
    held += [str(r.incident) for r in app.ingest.receive([disk(n) for n in range(4)])]
    app.silences.add(Matcher(labels=(("host", "db9"),)), timedelta(hours=2), "db9 move", OPERATOR)
    kept = fire(app, host="db9")[1]
    assert [state(app, i) for i in held] == [IncidentState.SILENCED] * 5
    app.silences.remove(made.id, OPERATOR)
    assert [state(app, i) for i in held] == [IncidentState.TRIGGERED] * 5
    assert all(pages(app, i) == ["alice"] for i in held)
    assert state(app, kept) == IncidentState.SILENCED


def disk(n: int) -> Alarm:
    return Alarm("monitoring", f"disk-{n}", AlarmStatus.FIRING, "critical", f"Disk {n} full", labels={"host": "db1"})


def test_a_window_deleted_from_memoguard_yaml_releases_what_it_held(
    app: Application, service_dir: Path, fake_clock: FakeClock
) -> None:
    # Issue 17: a reload that deleted a recurring window released nothing; its incidents waited for the
    # old window's end. The engine sweeps once per configuration in force (engine/runtime.py).
    fake_clock.advance(datetime(2026, 11, 22, 1, 30, tzinfo=UTC) - fake_clock.now())  # Sunday 02:30 in Paris
    _, yaml_held = fire(app)
    app.silences.add(Matcher(labels=(("host", "db2"),)), timedelta(hours=2), "db2 move", OPERATOR)
    _, run_time_held = fire(app, host="db2")
    assert state(app, yaml_held) == IncidentState.SILENCED and state(app, run_time_held) == IncidentState.SILENCED
    assert app.silences.release_unheld() == 0  # the configuration unchanged: all still held

    main = service_dir / "memoguard.yaml"
    main.write_text(main.read_text(encoding="utf-8").replace(RECURRING, ""), encoding="utf-8")
    reloaded = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    try:
        assert reloaded.silences.release_unheld() == 1
        assert reloaded.silences.release_unheld() == 0
    finally:
        store = reloaded.store
        assert isinstance(store, SqlStore)
        store.close()
    assert state(app, yaml_held) == IncidentState.TRIGGERED and pages(app, yaml_held) == ["alice"]
    assert (
        "silence_removed",
        "the window that held this incident no longer exists (memoguard.yaml changed); no other holds it",
    ) in timeline(app, yaml_held)
    assert state(app, run_time_held) == IncidentState.SILENCED  # its window still exists


def test_a_removed_silence_holds_no_new_alarm_and_is_audited(app: Application, fake_clock: FakeClock) -> None:
    made = app.silences.add(DB1, timedelta(hours=2), "kernel upgrade", OPERATOR)
    removed = app.silences.remove(made.id, OPERATOR)
    assert removed.removed_at == fake_clock.now()
    assert fire(app)[0] == Outcome.OPENED
    assert [(e.action, e.person, e.target) for e in app.access.audit()] == [
        ("silence-add", "root", "silence 1"),
        ("silence-remove", "root", "silence 1"),
    ]
    assert [v.silence.id for v in app.silences.list()] == ["yaml:sunday-night"]
    assert [v.silence.id for v in app.silences.list(everything=True)] == ["yaml:sunday-night", "1"]


@pytest.mark.parametrize(
    ("matches", "length", "comment", "words"),
    [
        ([], timedelta(hours=1), "x", "at least one match"),
        (["source=nagios"], timedelta(hours=1), "x", "unknown source 'nagios'"),
        (["host=db1"], timedelta(hours=1), " ", "needs a comment"),
        (["host=db1"], timedelta(0), "x", "more than 0s"),
        (["host=db1"], timedelta(days=400), "x", "at most 366 days"),
    ],
)
def test_a_bad_silence_is_refused_by_name(
    app: Application, matches: list[str], length: timedelta, comment: str, words: str
) -> None:
    with pytest.raises(Invalid, match=words):
        app.silences.add(parse_matches(matches), length, comment, OPERATOR)


@pytest.mark.parametrize(("pair", "words"), [("host", "expected KEY=VALUE"), ("=db1", "expected KEY=VALUE")])
def test_a_bad_match_is_refused_by_name(pair: str, words: str) -> None:
    with pytest.raises(Invalid, match=words):
        parse_matches([pair])
    with pytest.raises(Invalid, match="label 'host' matched twice"):
        parse_matches(["host=db1", "host=db2"])


# --- recurring windows of memoguard.yaml across DST ----------------------------------------------------


@pytest.mark.parametrize(
    ("at", "end"),
    [
        # Last Sunday of March: 02:00-04:00 Paris is 01:00-02:00 UTC (02:00 CET does not exist).
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), datetime(2026, 3, 29, 2, 0, tzinfo=UTC)),
        # Last Sunday of October: 02:00 CEST to 04:00 CET is 00:00-03:00 UTC.
        (datetime(2026, 10, 25, 2, 30, tzinfo=UTC), datetime(2026, 10, 25, 3, 0, tzinfo=UTC)),
    ],
    ids=["march", "october"],
)
def test_a_recurring_window_across_a_dst_change(
    app: Application, fake_clock: FakeClock, at: datetime, end: datetime
) -> None:
    fake_clock.advance(at - fake_clock.now())
    outcome, incident = fire(app)
    assert outcome == Outcome.SILENCED
    assert any("held by silence yaml:sunday-night (weekly patching)" in t for _, t in timeline(app, incident))
    with app.store.read() as unit:
        (timer,) = unit.timers(incident)
    assert timer.due_at == end
    fake_clock.advance(end - fake_clock.now())
    assert app.timers.fire_all_due() == 1 and len(pages(app, incident)) == 1  # whoever is on call then
    # Just after the window, a new alarm pages at once.
    assert fire(app, host="db1-bis")[0] == Outcome.OPENED


def test_a_recurring_window_is_checked_where_it_is_written(service_dir: Path) -> None:
    main = service_dir / "memoguard.yaml"
    bad = """silences:
  - {name: a, every: funday 02:00-04:00}
  - {name: b, every: sunday 02:00-04:00, timezone: Mars/Olympus}
  - {name: c, every: sunday 02:00-04:00, match: {source: nagios}}
  - {name: c, every: sunday 05:00-06:00}
"""
    main.write_text(main.read_text(encoding="utf-8") + bad, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        bootstrap.load(service_dir)
    problems = str(raised.value)
    assert "silences[0].every: invalid weekday 'funday'" in problems
    assert "unknown time zone 'Mars/Olympus'" in problems
    assert "nagios" in problems
    assert "a second silence named 'c'" in problems


# --- the API ---------------------------------------------------------------------------------------------

NEW = {"match": ["host=db1"], "for": "2h", "comment": "kernel upgrade"}


@pytest.mark.parametrize(
    ("who", "status"),
    [("no-token", 401), ("source-token", 401), ("responder", 403), ("admin", 200)],
)
def test_adding_and_removing_a_silence_takes_an_admin(served: Served, who: str, status: int) -> None:
    headers = {"no-token": {}, "source-token": MONITORING, "responder": served.as_("alice"), "admin": served.as_(ADMIN)}
    answer = served.client.post(SILENCES, json=NEW, headers=headers[who])
    assert answer.status_code == status, answer.text
    if status == 403:
        assert "alice may not add a silence: only an admin may" in detail(answer)
    made = served.client.post(SILENCES, json=NEW, headers=served.as_(ADMIN)).json()
    answer = served.client.delete(f"{SILENCES}/{made['id']}", headers=headers[who])
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json()["removed_at"] == served.clock.now().isoformat()


def test_the_api_lists_adds_and_removes_silences(served: Served) -> None:
    assert served.client.get(SILENCES).status_code == 401
    answer = served.client.post(SILENCES, json=NEW, headers=served.as_(ADMIN))
    made = answer.json()
    assert made["id"] == "1" and made["labels"] == {"host": "db1"} and made["active"] is True
    assert made["created_by"] == ADMIN and made["ends_at"] == (served.clock.now() + timedelta(hours=2)).isoformat()
    listed = served.client.get(SILENCES, headers=served.as_("carol")).json()["silences"]
    assert [s["id"] for s in listed] == ["1"]
    incident = served.alarm(dedup_key="disk-db1", summary="Disk full", labels={"host": "db1"}).json()["alarms"][0]
    assert incident["outcome"] == "silenced"
    audit = served.application.access.audit()
    assert [(e.action, e.person, e.how) for e in audit if e.action.startswith("silence")] == [
        ("silence-add", ADMIN, "token test")
    ]
    assert served.client.delete(f"{SILENCES}/1", headers=served.as_(ADMIN)).status_code == 200
    assert served.client.get(SILENCES, headers=served.as_("carol")).json()["silences"] == []
    answer = served.client.delete(f"{SILENCES}/99", headers=served.as_(ADMIN))
    assert answer.status_code == 404 and "no silence 99" in detail(answer)


def test_an_api_silence_can_start_later(served: Served) -> None:
    # Issue 17: API silences started now only (the CLI had --from). T0 is 2026-11-17 10:00Z, 11:00 in Paris.
    later = {**NEW, "from": "2026-11-17T14:00:00+01:00"}
    made = served.client.post(SILENCES, json=later, headers=served.as_(ADMIN)).json()
    assert (made["starts_at"], made["ends_at"], made["active"]) == (
        "2026-11-17T13:00:00+00:00",
        "2026-11-17T15:00:00+00:00",
        False,
    )
    assert (
        served.alarm(dedup_key="disk-db1", summary="Disk full", labels={"host": "db1"}).json()["alarms"][0]["outcome"]
        == "opened"
    )
    # Without an offset: memoguard.yaml's time zone, as the CLI's --from.
    local = served.client.post(SILENCES, json={**NEW, "from": "2026-11-20 02:00"}, headers=served.as_(ADMIN)).json()
    assert local["starts_at"] == "2026-11-20T01:00:00+00:00"
    # Begun already and not over: in force now.
    begun = served.client.post(SILENCES, json={**NEW, "from": "2026-11-17T09:00:00Z"}, headers=served.as_(ADMIN))
    assert begun.json()["active"] is True and begun.json()["ends_at"] == "2026-11-17T11:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**NEW, "for": "soon"}, "invalid duration"),
        ({**NEW, "match": ["host"]}, "expected KEY=VALUE"),
        ({**NEW, "comment": ""}, "comment"),
        ({"match": ["host=db1"], "for": "2h"}, "comment"),
        ({**NEW, "until": "tomorrow"}, "until"),
        ({**NEW, "from": "tomorrow"}, "from: invalid date and time 'tomorrow'"),
        ({**NEW, "from": 1763373600}, "from"),
        (
            {**NEW, "from": "2026-11-16T09:00:00Z"},
            "this silence would already be over: it would end at 2026-11-16 11:00Z",
        ),
        ({**NEW, "from": "2028-01-01T00:00:00Z"}, "a silence starts at most 366 days ahead"),
    ],
)
def test_a_bad_silence_body_is_refused_by_name(served: Served, body: dict[str, object], words: str) -> None:
    answer = served.client.post(SILENCES, json=body, headers=served.as_(ADMIN))
    assert answer.status_code == 422 and words in detail(answer), answer.text


# --- CLI -------------------------------------------------------------------------------------------------


def test_memoguard_silence_add_list_remove(app: Application, service_dir: Path, fake_clock: FakeClock) -> None:
    context = AppContext(service_dir, clock=fake_clock)
    runner = CliRunner(env={"COLUMNS": "200"})
    try:
        args = ["silence", "add", "--match", "host=db1", "--match", "source=monitoring", "--for", "2h"]
        result = runner.invoke(cli, [*args, "--comment", "kernel upgrade"], obj=context)
        assert result.exit_code == 0, result.output
        assert result.output.startswith("Silence 1 added: source=monitoring, host=db1 from Tue 2026-11-17 11:00")
        sent = ["alarm", "send", "--summary", "Disk full", "--label", "host=db1", "--source", "monitoring"]
        result = runner.invoke(cli, sent, obj=context)
        assert result.exit_code == 0, result.output
        assert "opened incident 1 silenced by a maintenance window: nobody is paged" in result.output
        result = runner.invoke(cli, ["silence", "list", "--json"], obj=context)
        assert [(s["id"], s["active"]) for s in json.loads(result.output)["silences"]] == [
            ("yaml:sunday-night", False),
            ("1", True),
        ]
        result = runner.invoke(cli, ["silence", "list"], obj=context)
        assert "weekly patching" in result.output and "kernel upgrade" in result.output and "active" in result.output
        result = runner.invoke(cli, ["silence", "remove", "1"], obj=context)
        assert result.exit_code == 0 and "Silence 1 removed" in result.output
        result = runner.invoke(cli, ["silence", "remove", "yaml:sunday-night"], obj=context)
        assert result.exit_code == 1 and "declared in memoguard.yaml: remove it there" in result.output
        result = runner.invoke(cli, [*args[:-2], "--for", "soon", "--comment", "x"], obj=context)
        assert result.exit_code == 2 and "invalid duration 'soon'" in result.output
        result = runner.invoke(cli, ["silence", "add", "--match", "host=db1", "--for", "1h"], obj=context)
        assert result.exit_code == 2 and "--comment" in result.output
    finally:
        context.close()


def test_removing_a_silence_again_releases_what_a_failed_first_removal_left_held(app: Application) -> None:
    # The removal commits before it releases (in batches): a failure in between left the incident held,
    # and removing the silence again must release it rather than find nothing to do.
    made = app.silences.add(DB1, timedelta(hours=2), "kernel upgrade", OPERATOR)
    _, db1 = fire(app)
    with app.store.write() as unit:  # the first removal's own transaction, its release never ran
        unit.remove_silence(int(made.id), app.clock.now(), "root")
    assert state(app, db1) == IncidentState.SILENCED

    app.silences.remove(made.id, OPERATOR)

    assert state(app, db1) == IncidentState.TRIGGERED and pages(app, db1) == ["alice"]
