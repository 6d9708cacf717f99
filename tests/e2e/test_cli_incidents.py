"""End-to-end tests of the commands that use the database: ``alarm send``, ``incidents``, ``incident``,
``ack``/``confirm``/``resolve``/``escalate``, ``override add|list|remove``, ``db upgrade|status``, and the
database overrides seen by ``oncall`` and ``roster``.

Every command runs through click's CliRunner with an injected AppContext on the service test configuration
(tests/fixtures/service, copied next to a fresh database: SQLite, and PostgreSQL when
MEMOGUARD_TEST_DATABASE_URL is set) and the fake clock. Nothing else runs: the commands write to the
database directly, and the tests fire due timers themselves after advancing the clock.

Expected answers, from rosters/ops.yaml and the policies: the clock starts on Tuesday 2026-11-17 10:00 UTC
(11:00 in Paris); ops's week started Monday 2026-11-16 09:00 (Paris) with alice as primary and bob as
secondary until Monday 2026-11-23 09:00. Policy ``simple`` pages ops (sms, email; 5 min), then
ops/secondary (sms; 5 min), then dave (sms; 10 min). ``root`` is an admin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from memoguard.cli import cli
from memoguard.cli.context import AppContext
from tests.conftest import T0, FakeClock

SUMMARY_KEYS = {
    "id",
    "state",
    "summary",
    "severity",
    "policy",
    "source",
    "dedup_key",
    "opened_at",
    "updated_at",
    "resolved_at",
    "step",
    "steps",
    "cycle",
    "crisis",
    "paged",
    "acknowledged_by",
    "confirmed_by",
    "alarms",
}
PEOPLE = "alice, bob, carol, dave, erin, gina, hank, root"


@pytest.fixture
def ctx(service_dir: Path, fake_clock: FakeClock) -> Iterator[AppContext]:
    context = AppContext(service_dir, clock=fake_clock)
    yield context
    context.close()


def run(ctx: AppContext, args: Sequence[str], expect: int = 0) -> Result:
    """Run ``memoguard ARGS`` on the injected context; check the exit code and that nothing crashed."""
    runner = CliRunner(env={"COLUMNS": "200", "MEMOGUARD_CONFIG": None})
    result = runner.invoke(cli, list(args), obj=ctx)
    assert result.exit_code == expect, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


def run_json(ctx: AppContext, args: Sequence[str], expect: int = 0) -> Any:
    return json.loads(run(ctx, [*args, "--json"], expect=expect).stdout)


def error(ctx: AppContext, args: Sequence[str], expect: int) -> str:
    """Run a command that must fail with ``expect``; return its one ``Error:`` line (nothing on stdout)."""
    result = run(ctx, args, expect=expect)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def send(ctx: AppContext, *args: str) -> str:
    """``alarm send`` a firing alarm; the id of the incident it opened or joined."""
    receipt = run_json(ctx, ["alarm", "send", "--summary", "disk full on db1", *args])
    assert receipt["incident"] is not None, receipt
    return str(receipt["incident"])


def show(ctx: AppContext, incident: str) -> Any:
    return run_json(ctx, ["incident", incident])


def fire(ctx: AppContext, clock: FakeClock, minutes: float) -> None:
    clock.advance(timedelta(minutes=minutes))
    ctx.application().timers.fire_all_due()


def texts(shown: dict[str, Any], kind: str) -> list[str]:
    return [entry["text"] for entry in shown["timeline"] if entry["kind"] == kind]


def pages(shown: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(n["person"], n["step"]) for n in shown["notifications"] if n["purpose"] == "page"]


def with_main_config(service_dir: Path, old: str, new: str) -> None:
    main = service_dir / "memoguard.yaml"
    content = main.read_text(encoding="utf-8")
    assert old in content
    main.write_text(content.replace(old, new), encoding="utf-8")


# --- alarm send ---------------------------------------------------------------------------------------


def test_alarm_send_opens_an_incident_and_queues_its_first_page(ctx: AppContext) -> None:
    receipt = run_json(ctx, ["alarm", "send", "--summary", "disk full on db1"])
    assert set(receipt) == {"alarm", "outcome", "incident", "source", "dedup_key"}
    assert (receipt["alarm"], receipt["outcome"], receipt["incident"], receipt["source"]) == (1, "opened", "1", "cli")
    assert re.fullmatch(r"cli-[0-9a-f]{32}", receipt["dedup_key"])

    shown = show(ctx, "1")
    assert SUMMARY_KEYS | {"timeline", "notifications", "timers"} == set(shown)
    assert (shown["state"], shown["severity"], shown["policy"], shown["source"]) == (
        "triggered",
        "warning",
        "simple",
        "cli",
    )
    assert (shown["step"], shown["steps"], shown["paged"], shown["opened_at"]) == (1, 3, ["alice"], T0.isoformat())
    assert [(e["kind"], e["text"]) for e in shown["timeline"]] == [
        ("alarm", "Alarm from cli: disk full on db1"),
        ("triggered", "Incident triggered: disk full on db1 (policy 'simple')"),
        ("paged", "Page queued for alice: step 1 via sms, email; acknowledgement expected within 5m"),
    ]
    # Nothing runs, so the page waits in the outbox for a `serve` on this database.
    (page,) = shown["notifications"]
    assert (page["person"], page["channel"], page["status"], page["attempts"]) == ("alice", "sms", "pending", 0)
    assert shown["timers"] == [
        {
            "kind": "ack_timeout",
            "due_at": (T0 + timedelta(minutes=5)).isoformat(),
            "version": shown["timers"][0]["version"],
        }
    ]


def test_alarm_send_says_what_happened(ctx: AppContext) -> None:
    out = run(ctx, ["alarm", "send", "--summary", "disk full on db1", "--dedup-key", "db1-disk"]).stdout
    assert out == (
        "Alarm 1 (cli/db1-disk) opened incident 1 (policy simple); its pages are queued in the database:"
        " a running `memoguard serve` sends them\n"
    )
    out = run(ctx, ["alarm", "send", "--summary", "disk still full", "--dedup-key", "db1-disk"]).stdout
    assert out == "Alarm 2 (cli/db1-disk) attached to open incident 1\n"
    out = run(ctx, ["alarm", "send", "--dedup-key", "db1-disk", "--resolved"]).stdout
    assert out == "Alarm 3 (cli/db1-disk) resolved incident 1\n"
    out = run(ctx, ["alarm", "send", "--dedup-key", "db1-disk", "--resolved"]).stdout
    assert out == "Alarm 4 (cli/db1-disk) ignored: no open incident has this dedup key\n"
    shown = show(ctx, "1")
    assert (shown["state"], shown["alarms"]) == ("resolved", 3)
    assert texts(shown, "alarm_attached") == ["Another alarm attached: disk still full"]
    assert texts(shown, "source_resolved") == ["cli reports the alarm resolved"]
    assert {n["status"] for n in shown["notifications"]} == {"cancelled"}


def test_alarm_send_routes_on_labels_severity_and_source(ctx: AppContext) -> None:
    receipt = run_json(
        ctx,
        [
            "alarm", "send", "--summary", "replication lag", "--severity", "critical", "--source", "prometheus",
            "--dedup-key", "lag", "--label", "policy=double", "--label", "team=dba", "--details", "5 minutes behind",
        ],
    )  # fmt: skip
    assert (receipt["outcome"], receipt["source"], receipt["dedup_key"]) == ("opened", "prometheus", "lag")
    shown = show(ctx, receipt["incident"])
    assert (shown["policy"], shown["severity"], shown["source"], shown["summary"]) == (
        "double",
        "critical",
        "prometheus",
        "replication lag",
    )
    # A route with `resolve: false` leaves resolving to a person.
    sticky = send(ctx, "--dedup-key", "sticky", "--label", "policy=sticky")
    out = run(ctx, ["alarm", "send", "--dedup-key", "sticky", "--resolved"]).stdout
    assert (
        out == f"Alarm 3 (cli/sticky) ignored: incident {sticky} stays open, its route leaves resolving to a person\n"
    )
    assert show(ctx, sticky)["state"] == "triggered"


def test_alarm_send_unrouted(service_dir: Path, ctx: AppContext) -> None:
    # The heartbeats of the configuration keep a route (a miss no route takes is refused: issue 17).
    with_main_config(
        service_dir, "  - {policy: simple}\n", "  - {match: {labels: {alertname: HeartbeatMissed}}, policy: simple}\n"
    )
    out = run(ctx, ["alarm", "send", "--summary", "nobody listens"]).stdout
    assert re.fullmatch(r"Alarm 1 \(cli/cli-[0-9a-f]{32}\) stored, but no route matches it: nobody is paged\n", out)
    receipt = run_json(ctx, ["alarm", "send", "--summary", "nobody listens"])
    assert (receipt["outcome"], receipt["incident"]) == ("unrouted", None)
    assert run_json(ctx, ["incidents"]) == {"incidents": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Error: --summary is required: it is what people read when they are paged"),
        (["--summary", "   "], "Error: --summary is required: it is what people read when they are paged"),
        (["--resolved"], "Error: --resolved needs --dedup-key: the key of the alarm to resolve"),
        (["-s", "x", "--label", "team"], "Error: Invalid value for --label: 'team': expected KEY=VALUE, e.g. team=dba"),
        (["-s", "x", "--label", "=dba"], "Error: Invalid value for --label: '=dba': expected KEY=VALUE, e.g. team=dba"),
        (["-s", "x", "-l", "a=1", "-l", "a=2"], "Error: Invalid value for --label: label 'a' given twice"),
        (["-s", "x", "--severity", "s" * 51], "Error: Invalid value for --severity: at most 50 characters, got 51"),
        (
            ["-s", "x", "--dedup-key", "k" * 256],
            "Error: Invalid value for --dedup-key: at most 255 characters, got 256",
        ),
        (["-s", "x", "--source", ""], "Error: Invalid value for --source: must not be empty"),
    ],
)
def test_alarm_send_usage_errors(ctx: AppContext, args: list[str], message: str) -> None:
    assert error(ctx, ["alarm", "send", *args], expect=2) == message
    assert run_json(ctx, ["incidents"]) == {"incidents": []}


# --- incidents and incident ---------------------------------------------------------------------------


def test_incidents_list_filters_and_json(ctx: AppContext, fake_clock: FakeClock) -> None:
    assert run(ctx, ["incidents"]).stdout == "No incidents.\n"
    first = send(ctx)
    fake_clock.advance(timedelta(minutes=1))
    second = send(ctx, "--label", "policy=double")
    fake_clock.advance(timedelta(minutes=1))
    third = send(ctx, "--severity", "critical")
    run(ctx, ["ack", second, "--as", "alice"])
    run(ctx, ["resolve", third, "--as", "root"])

    listed = run_json(ctx, ["incidents"])["incidents"]
    assert [(i["id"], i["state"]) for i in listed] == [
        (third, "resolved"),
        (second, "acknowledged"),
        (first, "triggered"),
    ]
    assert all(set(i) == SUMMARY_KEYS for i in listed)
    assert listed[1]["acknowledged_by"] == ["alice"]
    assert [i["id"] for i in run_json(ctx, ["incidents", "--open"])["incidents"]] == [second, first]
    assert [i["id"] for i in run_json(ctx, ["incidents", "--state", "resolved"])["incidents"]] == [third]
    both = run_json(ctx, ["incidents", "--state", "triggered", "--state", "resolved"])["incidents"]
    assert [i["id"] for i in both] == [third, first]
    assert [i["id"] for i in run_json(ctx, ["incidents", "--limit", "1"])["incidents"]] == [third]
    assert run(ctx, ["incidents", "--state", "confirmed"]).stdout == "No confirmed incidents.\n"

    table = run(ctx, ["incidents"]).stdout
    assert "Incidents, newest first (Europe/Paris)" in table
    for header in ("id", "state", "severity", "summary", "policy", "step", "opened", "acked by"):
        assert header in table
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in table.splitlines() if line.startswith("│")]
    rows = {row[0]: row[1:] for row in cells}
    assert rows[first] == ["triggered", "warning", "disk full on db1", "simple", "1/3", "Tue 2026-11-17 11:00", "-"]
    assert rows[second] == [
        "acknowledged",
        "warning",
        "disk full on db1",
        "double",
        "1/2",
        "Tue 2026-11-17 11:01",
        "alice",
    ]
    assert rows[third][:2] == ["resolved", "critical"]
    run(ctx, ["resolve", first, "--as", "root"])
    run(ctx, ["resolve", second, "--as", "root"])
    assert run(ctx, ["incidents", "--open"]).stdout == "No open incidents.\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--open", "--state", "resolved"], "--open and --state do not go together"),
        (["--state", "sleeping"], "Invalid value for '--state': 'sleeping' is not one of"),
        (["--limit", "0"], "Invalid value for '--limit': 0 is not in the range 1<=x<=1000"),
    ],
)
def test_incidents_usage_errors(ctx: AppContext, args: list[str], fragment: str) -> None:
    assert fragment in error(ctx, ["incidents", *args], expect=2)


def test_incident_shows_facts_timeline_notifications_and_timers(ctx: AppContext, fake_clock: FakeClock) -> None:
    incident = send(ctx, "--dedup-key", "db1-disk")
    fake_clock.advance(timedelta(seconds=90))
    out = run(ctx, ["incident", incident]).stdout
    assert out.startswith(f"Incident {incident}: disk full on db1\n")
    facts = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines()[1:11])
    assert facts == {
        "state": "triggered",
        "severity": "warning",
        "policy": "simple",
        "step": "1/3",
        "source": "cli (dedup key db1-disk)",
        "alarms": "1",
        "opened": "2026-11-17 11:00:00",
        "updated": "2026-11-17 11:00:00",
        "paged": "alice (queued, not sent yet)",
        "acknowledged by": "-",
    }
    assert "Timeline (Europe/Paris)" in out
    assert re.search(r"│ 2026-11-17 11:00:00 │ paged\s+│\s+│ Page queued for alice: step 1 via sms, email;", out)
    assert re.search(r"│\s+1 │ alice\s+│ sms\s+│ page\s+│ queued\s+│\s+0 │ not sent yet", out)
    # The ack timeout is due at 11:05, three and a half minutes from the clock's 11:01:30.
    assert re.search(r"│ ack_timeout │ 2026-11-17 11:05:00 │ 4m\s+│", out)

    run(ctx, ["resolve", incident, "--as", "alice"])
    out = run(ctx, ["incident", incident]).stdout
    assert re.search(r"resolved\s+2026-11-17 11:01:30", out)
    assert re.search(r"│ 2026-11-17 11:01:30 │ resolved\s+│ alice\s+│ Resolved by alice via cli", out)
    assert re.search(r"│\s+1 │ alice\s+│ sms\s+│ page\s+│ cancelled\s+│", out)
    assert "No pending timers." in out


def test_incident_text_is_not_taken_for_markup(ctx: AppContext) -> None:
    receipt = run_json(ctx, ["alarm", "send", "--summary", "[bold]disk[/bold] full on [sda]"])
    out = run(ctx, ["incident", receipt["incident"]]).stdout
    assert out.startswith(f"Incident {receipt['incident']}: [bold]disk[/bold] full on [sda]\n")
    assert "[bold]disk[/bold] full on [sda]" in run(ctx, ["incidents"]).stdout


@pytest.mark.parametrize("incident", ["99", "abc"])
def test_incident_unknown(ctx: AppContext, incident: str) -> None:
    assert error(ctx, ["incident", incident], expect=1) == f"Error: no incident '{incident}'"
    assert error(ctx, ["incident", incident, "--json"], expect=1) == f"Error: no incident '{incident}'"


# --- ack, confirm, resolve, escalate ------------------------------------------------------------------


def test_alarm_send_then_ack_stops_the_escalation(ctx: AppContext, fake_clock: FakeClock) -> None:
    incident = send(ctx)
    fake_clock.advance(timedelta(minutes=2))
    out = run(ctx, ["ack", incident, "--as", "alice"]).stdout
    assert out == f"Incident {incident} (acknowledged): alice acknowledged via cli; incident acknowledged by alice\n"
    # The same person again: a recorded no-op, exit 0.
    out = run(ctx, ["ack", incident, "--as", "alice"]).stdout
    assert out == (
        f"Nothing changed on incident {incident} (acknowledged): alice acknowledged again via cli: already counted\n"
    )
    again = run_json(ctx, ["ack", incident, "--as", "alice"])
    assert set(again) == {"changed", "messages", "incident"}
    assert again["changed"] is False
    assert again["messages"] == ["alice acknowledged again via cli: already counted"]
    assert set(again["incident"]) == SUMMARY_KEYS
    assert again["incident"]["acknowledged_by"] == ["alice"]

    fire(ctx, fake_clock, 30)
    shown = show(ctx, incident)
    assert shown["state"] == "acknowledged"
    assert pages(shown) == [("alice", 1)]  # step 2 never came
    assert shown["timers"] == []
    acks = [(e["kind"], e["person"]) for e in shown["timeline"] if e["person"] is not None]
    assert acks == [("acknowledged", "alice"), ("duplicate", "alice"), ("duplicate", "alice")]


def test_ack_json(ctx: AppContext) -> None:
    incident = send(ctx)
    acked = run_json(ctx, ["ack", incident, "--as", "alice"])
    assert acked["changed"] is True
    assert acked["messages"] == ["alice acknowledged via cli; incident acknowledged by alice"]
    assert (acked["incident"]["id"], acked["incident"]["state"]) == (incident, "acknowledged")


def test_double_acknowledgement_ack_then_confirm(ctx: AppContext) -> None:
    incident = send(ctx, "--label", "policy=double")
    out = run(ctx, ["ack", incident, "--as", "alice"]).stdout
    assert out == (
        f"Incident {incident} (acknowledged): alice acknowledged via cli; incident acknowledged by alice;"
        " confirmation expected within 10m; the acknowledgement expires after 1h\n"
    )
    assert {t["kind"] for t in show(ctx, incident)["timers"]} == {"confirm_timeout", "ack_expiry"}
    out = run(ctx, ["confirm", incident, "--as", "alice"]).stdout
    assert out == f"Incident {incident} (confirmed): alice confirmed via cli; incident confirmed by alice\n"
    shown = show(ctx, incident)
    assert (shown["state"], shown["confirmed_by"], shown["timers"]) == ("confirmed", ["alice"], [])
    out = run(ctx, ["confirm", incident, "--as", "alice"]).stdout
    assert (
        out == f"Nothing changed on incident {incident} (confirmed): alice confirmed again via cli: already counted\n"
    )
    assert "alice (confirmed)" in run(ctx, ["incidents"]).stdout


def test_escalate_pages_the_next_step_and_refuses_who_was_not_paged(ctx: AppContext) -> None:
    incident = send(ctx)
    before = show(ctx, incident)["timeline"]
    assert error(ctx, ["escalate", incident, "--as", "bob"], expect=1) == (
        f"Error: incident {incident}: bob via cli may not escalate: not paged for this incident and not an admin"
    )
    assert error(ctx, ["ack", incident, "--as", "bob"], expect=1) == (
        f"Error: incident {incident}: bob via cli may not acknowledge: not paged for this incident and not an admin"
    )
    assert show(ctx, incident)["timeline"] == before  # a refused action changes nothing, not even the timeline

    out = run(ctx, ["escalate", incident, "--as", "alice"]).stdout
    assert out == (
        f"Incident {incident} (triggered): alice asked to escalate via cli;"
        " Page queued for bob: step 2 via sms; acknowledgement expected within 5m\n"
    )
    assert pages(show(ctx, incident)) == [("alice", 1), ("bob", 2)]
    # bob has been paged now, so he may act; an admin may act on anything.
    assert run(ctx, ["ack", incident, "--as", "bob"]).stdout.startswith(f"Incident {incident} (acknowledged): bob")
    escalated = run_json(ctx, ["escalate", incident, "--as", "root"])
    assert escalated["changed"] is True
    assert escalated["messages"][0] == "root asked to escalate via cli"
    assert escalated["incident"]["step"] == 3


def test_resolve_then_every_action_is_refused(ctx: AppContext) -> None:
    incident = send(ctx)
    out = run(ctx, ["resolve", incident, "--as", "root"]).stdout
    assert out == f"Incident {incident} (resolved): Resolved by root via cli\n"
    shown = show(ctx, incident)
    assert (shown["state"], shown["timers"]) == ("resolved", [])
    assert {n["status"] for n in shown["notifications"]} == {"cancelled"}
    for verb, message in [
        ("ack", "Acknowledgement by alice via cli ignored: the incident is resolved"),
        ("confirm", "Confirmation by alice via cli ignored: the incident is resolved"),
        ("resolve", "Resolution by alice via cli ignored: the incident is resolved"),
        ("escalate", "Escalation request by alice via cli refused: the incident is resolved"),
    ]:
        assert error(ctx, [verb, incident, "--as", "alice"], expect=1) == f"Error: incident {incident}: {message}"
    assert show(ctx, incident)["timeline"] == shown["timeline"]


@pytest.mark.parametrize("verb", ["ack", "confirm", "resolve", "escalate"])
def test_action_errors(ctx: AppContext, verb: str) -> None:
    incident = send(ctx)
    assert error(ctx, [verb, "99", "--as", "alice"], expect=1) == "Error: no incident '99'"
    assert error(ctx, [verb, "abc", "--as", "alice", "--json"], expect=1) == "Error: no incident 'abc'"
    assert error(ctx, [verb, incident, "--as", "zed"], expect=1) == f"Error: unknown person 'zed' (people: {PEOPLE})"
    assert error(ctx, [verb, incident], expect=2) == "Error: Missing option '--as'."
    assert show(ctx, incident)["state"] == "triggered"


# --- overrides ----------------------------------------------------------------------------------------


def test_override_add_list_remove(ctx: AppContext) -> None:
    assert run(ctx, ["override", "list"]).stdout == "No overrides stored.\n"
    assert run_json(ctx, ["override", "list"]) == {"overrides": []}
    out = run(
        ctx,
        ["override", "add", "ops", "--who", "dave", "--from", "2026-11-17 12:00", "--to", "2026-11-17 20:00",
         "--level", "secondary", "--note", "bob at the [dentist]"],
    ).stdout  # fmt: skip
    assert out == (
        "Override #1 added: dave is on call for ops/secondary from Tue 2026-11-17 12:00 to Tue 2026-11-17 20:00"
        " (Europe/Paris, 8h)\n"
    )
    out = run(ctx, ["override", "add", "ops", "--who", "carol", "--from", "now", "--to", "+90m"]).stdout
    assert out == (
        "Override #2 added: carol is on call for ops/primary from Tue 2026-11-17 11:00 to Tue 2026-11-17 12:30"
        " (Europe/Paris, 1h30m)\n"
    )
    listed = run_json(ctx, ["override", "list", "ops"])["overrides"]
    assert listed == [
        {
            "id": 2,
            "roster": "ops",
            "level": "primary",
            "who": "carol",
            "start": "2026-11-17T10:00:00+00:00",
            "end": "2026-11-17T11:30:00+00:00",
            "note": "",
            "created_at": T0.isoformat(),
        },
        {
            "id": 1,
            "roster": "ops",
            "level": "secondary",
            "who": "dave",
            "start": "2026-11-17T11:00:00+00:00",
            "end": "2026-11-17T19:00:00+00:00",
            "note": "bob at the [dentist]",
            "created_at": T0.isoformat(),
        },
    ]
    table = run(ctx, ["override", "list"]).stdout
    assert re.search(
        r"│ #1 │ ops\s+│ secondary │ dave\s+│ Tue 2026-11-17 12:00 │ Tue 2026-11-17 20:00 │ 8h\s+│"
        r" bob at the \[dentist\]",
        table,
    )

    out = run(ctx, ["override", "remove", "1"]).stdout
    assert out == (
        "Override #1 removed: dave on ops/secondary from Tue 2026-11-17 12:00 to Tue 2026-11-17 20:00 (Europe/Paris)\n"
    )
    assert [o["id"] for o in run_json(ctx, ["override", "list"])["overrides"]] == [2]
    assert error(ctx, ["override", "remove", "1"], expect=1) == "Error: no override #1"
    assert "Invalid value for 'ID': 'one' is not a valid integer" in error(ctx, ["override", "remove", "one"], expect=2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--who", "dave", "--from", "now", "--to", "+1h"], "Error: unknown roster 'nope' (rosters: ops)"),
        (["ops", "--who", "zed", "--from", "now", "--to", "+1h"], f"Error: unknown person 'zed' (people: {PEOPLE})"),
        (
            ["ops", "--who", "dave", "--from", "now", "--to", "+1h", "--level", "tertiary"],
            "Error: roster 'ops' has no level 'tertiary' (levels: primary, secondary)",
        ),
        (
            ["ops", "--who", "dave", "--from", "2026-11-17 12:00", "--to", "2026-11-17 08:00"],
            "Error: --to (Tue 2026-11-17 08:00) must be after --from (Tue 2026-11-17 12:00), Europe/Paris time",
        ),
        (
            ["ops", "--who", "dave", "--from", "+1h", "--to", "2026-11-17 12:00"],
            "Error: --to (Tue 2026-11-17 12:00) must be after --from (Tue 2026-11-17 12:00), Europe/Paris time",
        ),
        (
            ["ops", "--who", "dave", "--from", "tomorrow", "--to", "+1h"],
            "Error: --from: invalid date and time 'tomorrow': expected 'YYYY-MM-DD HH:MM' or ISO 8601 with an offset",
        ),
        (["ops", "--who", "dave", "--from", "now", "--to", "+1x"], "Error: --to: "),
        (["ops", "--from", "now", "--to", "+1h"], "Error: Missing option '--who'."),
    ],
)
def test_override_add_errors(ctx: AppContext, args: list[str], message: str) -> None:
    assert error(ctx, ["override", "add", *args], expect=2).startswith(message)
    assert run_json(ctx, ["override", "list"]) == {"overrides": []}


def test_override_list_unknown_roster(ctx: AppContext) -> None:
    assert error(ctx, ["override", "list", "nope"], expect=2) == "Error: unknown roster 'nope' (rosters: ops)"


def test_overrides_are_honoured_by_oncall_and_roster(ctx: AppContext) -> None:
    assert run_json(ctx, ["oncall", "ops", "--level", "primary"])["oncall"][0]["person"] == "alice"
    run(ctx, ["override", "add", "ops", "--who", "dave", "--from", "2026-11-17 12:00", "--to", "2026-11-17 20:00"])

    (row,) = run_json(ctx, ["oncall", "ops", "--level", "primary", "--at", "2026-11-17 13:00"])["oncall"]
    assert row == {
        "roster": "ops",
        "level": "primary",
        "person": "dave",
        "source": "override #1",
        "from": "2026-11-17T11:00:00+00:00",
        "until": "2026-11-17T19:00:00+00:00",
    }
    (row,) = run_json(ctx, ["oncall", "ops", "--level", "primary"])["oncall"]  # now: 11:00, before the override
    assert (row["person"], row["source"], row["until"]) == ("alice", "week", "2026-11-17T11:00:00+00:00")
    table = run(ctx, ["oncall", "--at", "2026-11-17 13:00"]).stdout
    assert re.search(
        r"│ ops\s+│ primary\s+│ dave\s+│ Tue 2026-11-17 12:00 │ Tue 2026-11-17 20:00 │ override #1 │", table
    )

    shown = run_json(ctx, ["roster", "show", "ops", "--from", "2026-11-17 00:00", "--days", "1", "--level", "primary"])
    assert [(s["person"], s["source"], s["start"]) for s in shown["levels"]["primary"]] == [
        ("alice", "week", "2026-11-16T23:00:00+00:00"),
        ("dave", "override #1", "2026-11-17T11:00:00+00:00"),
        ("alice", "week", "2026-11-17T19:00:00+00:00"),
    ]
    assert "override #1" in run(ctx, ["roster", "show", "ops", "--from", "2026-11-17 00:00", "--days", "1"]).stdout
    assert "unknown roster 'nope'" in error(ctx, ["roster", "show", "nope"], expect=2)
    assert "has no level 'tertiary'" in error(ctx, ["roster", "show", "ops", "--level", "tertiary"], expect=2)

    # Overrides only add cover, so a round-the-clock roster stays gapless.
    assert run_json(ctx, ["roster", "gaps", "--from", "2026-11-17 00:00", "--days", "2"])["gaps"] == []


def test_roster_gaps_sees_database_overrides(service_dir: Path, ctx: AppContext) -> None:
    # Office hours only: an override covering a night closes that gap.
    (service_dir / "rosters" / "ops.yaml").write_text(
        "name: ops\ntimezone: Europe/Paris\nlayers:\n  - {name: day, members: [alice, bob, carol], shift: 1d,"
        ' handoff: "09:00", start: 2026-01-05, active: [{from: "09:00", to: "18:00"}]}\n'
        "levels:\n  secondary: {offset: 1}\n",
        encoding="utf-8",
    )
    args = ["roster", "gaps", "--from", "2026-11-17 09:00", "--days", "1"]
    gaps = [(g["level"], g["start"], g["end"]) for g in run_json(ctx, args, expect=1)["gaps"]]
    assert ("primary", "2026-11-17T17:00:00+00:00", "2026-11-18T08:00:00+00:00") in gaps
    run(ctx, ["override", "add", "ops", "--who", "dave", "--from", "2026-11-17 18:00", "--to", "2026-11-18 09:00"])
    gaps = [(g["level"], g["start"], g["end"]) for g in run_json(ctx, args, expect=1)["gaps"]]
    assert not [gap for gap in gaps if gap[0] == "primary"]


def test_override_changes_the_next_page_of_an_open_incident(ctx: AppContext, fake_clock: FakeClock) -> None:
    incident = send(ctx)  # pages alice (primary); step 2 would page bob (secondary)
    out = run(ctx, ["override", "add", "ops", "--who", "carol", "--level", "secondary", "--from", "now", "--to", "+1h"])
    assert out.stdout.startswith("Override #1 added: carol is on call for ops/secondary")
    fire(ctx, fake_clock, 5)
    shown = show(ctx, incident)
    assert pages(shown) == [("alice", 1), ("carol", 2)]
    assert texts(shown, "paged")[-1] == "Page queued for carol: step 2 via sms; acknowledgement expected within 5m"
    # carol was paged, so carol may acknowledge.
    assert run(ctx, ["ack", incident, "--as", "carol"]).stdout.startswith(f"Incident {incident} (acknowledged): carol")

    # Removed, it no longer counts: the next incident's step 2 pages bob again.
    run(ctx, ["override", "remove", "1"])
    second = send(ctx)
    fire(ctx, fake_clock, 5)
    assert pages(show(ctx, second)) == [("alice", 1), ("bob", 2)]


# --- db -----------------------------------------------------------------------------------------------


def test_db_status_and_upgrade(ctx: AppContext) -> None:
    status = run_json(ctx, ["db", "status"])
    head = status["head"]
    assert status["revision"] is None
    assert status["ok"] is True
    assert status["message"].startswith("empty: the schema")
    assert "Schema:        -\n" in run(ctx, ["db", "status"]).stdout
    assert run(ctx, ["db", "upgrade"]).stdout == f"Database schema upgraded from nothing (empty database) to {head}.\n"
    assert run(ctx, ["db", "upgrade"]).stdout == f"Database schema already at {head}.\n"
    assert run_json(ctx, ["db", "status"]) | {"database": None} == {
        "database": None,
        "revision": head,
        "head": head,
        "ok": True,
        "message": "up to date",
    }
    out = run(ctx, ["db", "status"]).stdout
    assert f"Schema:        {head}\n" in out
    assert "Status:        up to date\n" in out


def test_db_written_by_a_newer_release(ctx: AppContext, database_url: str) -> None:
    run(ctx, ["db", "upgrade"])
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'zzzz'"))
    engine.dispose()
    status = run_json(ctx, ["db", "status"], expect=1)
    assert (status["revision"], status["ok"]) == ("zzzz", False)
    assert "at revision zzzz, which this release does not know" in status["message"]
    assert "which this release does not know" in run(ctx, ["db", "status"], expect=1).stdout
    message = error(ctx, ["db", "upgrade"], expect=1)
    assert "cannot upgrade the schema: Can't locate revision identified by 'zzzz'" in message
    assert "newer memoguard" in message
    # Every command that needs the database refuses it the same way, with exit code 1.
    assert "which this release does not know" in error(ctx, ["incidents"], expect=1)
    assert "which this release does not know" in error(ctx, ["oncall"], expect=1)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://db.example.net/memoguard", "only sqlite:/// and postgresql+psycopg:// are supported"),
        ("postgresql+psycopg://memoguard:s3cret@127.0.0.1:1/memoguard", "127.0.0.1"),
        ("postgresql+psycopg2://memoguard:s3cret@127.0.0.1:1/memoguard", "use the psycopg driver"),
        ("postgresql+psycopg://memoguard:s3cret@db1:5432,db2:5432/memoguard", "give each as a host= query parameter"),
    ],
)
def test_database_unavailable(service_dir: Path, ctx: AppContext, url: str, fragment: str) -> None:
    main = service_dir / "memoguard.yaml"
    lines = main.read_text(encoding="utf-8").splitlines(keepends=True)
    main.write_text(f"database: {url}\n" + "".join(lines[1:]), encoding="utf-8")
    for args in (
        ["incidents"],
        ["alarm", "send", "-s", "x"],
        ["ack", "1", "--as", "alice"],
        ["oncall"],
        ["db", "status"],
    ):
        message = error(ctx, args, expect=1)
        assert message.startswith("Error: database "), message
        assert fragment in message
        assert "s3cret" not in message
