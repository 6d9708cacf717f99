"""The command line as an operator runs it: real processes, through ``python -m memoguard`` and through the
installed ``memoguard`` console script, on the repository's example configuration.

Every command that depends on time is given ``--at``/``--from``: nothing here reads the real clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from memoguard import __version__
from tests.conftest import example_copy

REPO = example_copy()  # the example configuration, away from the working tree's memoguard.db
SCRIPT = Path(sys.executable).parent / ("memoguard.exe" if os.name == "nt" else "memoguard")
MODULE = [sys.executable, "-m", "memoguard"]


def run(command: list[str], cwd: Path, expect: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "MEMOGUARD_CONFIG"}
    # Warnings are errors in the child process too, and rich tables are wide enough to read.
    environment |= {"PYTHONWARNINGS": "error", "COLUMNS": "200", **env}
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == expect, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture(scope="module")
def script() -> list[str]:
    if not SCRIPT.is_file():
        pytest.fail(f"the memoguard console script is not installed next to {sys.executable}")
    return [str(SCRIPT)]


def test_module_version() -> None:
    result = run([*MODULE, "--version"], cwd=REPO)
    assert result.stdout.strip() == f"memoguard, version {__version__}"


def test_script_help(script: list[str], tmp_path: Path) -> None:
    out = run([*script, "--help"], cwd=tmp_path).stdout
    for command in ("check", "oncall", "roster", "simulate"):
        assert command in out


def test_module_check_in_the_repository_root() -> None:
    # No --config: the current directory is the configuration.
    result = run([*MODULE, "check"], cwd=REPO)
    assert "is valid" in result.stdout
    summary = json.loads(run([*MODULE, "check", "--json"], cwd=REPO).stdout)
    assert set(summary["rosters"]) == {"dba", "infra"}
    assert set(summary["policies"]) == {"critical", "database", "default"}


def test_module_check_warning_keeps_exit_code_0() -> None:
    # A warning (gaelle on primary and secondary of the dba roster at once) is printed, the exit code stays 0.
    result = run([*MODULE, "check", "--from", "2026-01-12 00:00", "--days", "7"], cwd=REPO)
    assert "is valid" in result.stdout
    [warning] = result.stderr.splitlines()
    assert warning.startswith(f"{Path('rosters') / 'dba.yaml'}:12: levels.secondary: warning: roster 'dba': gaelle ")


def test_module_oncall_on_bastille_day() -> None:
    data = json.loads(run([*MODULE, "oncall", "infra", "--at", "2026-07-14 12:00", "--json"], cwd=REPO).stdout)
    primary, secondary = data["oncall"]
    assert (primary["person"], primary["source"]) == ("david", "astreinte")
    assert primary["from"] == "2026-07-13T16:00:00+00:00"
    assert primary["until"] == "2026-07-15T06:30:00+00:00"
    assert secondary["person"] == "alice"


def test_script_with_config_option_from_elsewhere(script: list[str], tmp_path: Path) -> None:
    command = [*script, "--config", str(REPO), "simulate", "critical", "--at", "2026-01-06 20:00", "--json"]
    data = json.loads(run(command, cwd=tmp_path).stdout)
    start = datetime.fromisoformat(data["start"])
    crisis = [
        (datetime.fromisoformat(entry["at"]) - start, entry["person"])
        for entry in data["entries"]
        if entry["type"] == "notify" and entry["step"] is None
    ]
    assert crisis == [(timedelta(minutes=50), name) for name in ("olivier", "pauline", "quentin")]


def test_script_with_config_from_the_environment(script: list[str], tmp_path: Path) -> None:
    out = run(
        [*script, "roster", "gaps", "--from", "2026-03-01 00:00", "--days", "30"],
        cwd=tmp_path,
        MEMOGUARD_CONFIG=str(REPO),
    ).stdout
    assert "No gaps" in out
    show = run(
        [*script, "roster", "show", "infra", "--from", "2026-03-27 00:00", "--days", "4", "--level", "primary"],
        cwd=tmp_path,
        MEMOGUARD_CONFIG=str(REPO),
    ).stdout
    assert "Mon 2026-03-30 08:30" in show


def test_script_roster_gaps_exit_code(script: list[str], tmp_path: Path) -> None:
    (tmp_path / "memoguard.yaml").write_text(
        'timezone: Europe/Paris\npeople:\n  alice: {phone: "+33 6 12 34 56 78", channels: [sms]}\n'
        "channels:\n  sms: [console]\nproviders:\n  console: {kind: console}\n",
        encoding="utf-8",
    )
    (tmp_path / "rosters").mkdir()
    (tmp_path / "rosters" / "desk.yaml").write_text(
        'name: desk\nlayers:\n  - {name: day, members: [alice], shift: 1d, handoff: "09:00", start: 2026-01-05,'
        ' active: [{from: "09:00", to: "17:00"}]}\n',
        encoding="utf-8",
    )
    result = run(
        [*script, "roster", "gaps", "--from", "2026-02-02 00:00", "--days", "1", "--json"], cwd=tmp_path, expect=1
    )
    gaps = json.loads(result.stdout)["gaps"]
    assert [(g["start"], g["end"]) for g in gaps] == [
        ("2026-02-01T23:00:00+00:00", "2026-02-02T08:00:00+00:00"),
        ("2026-02-02T16:00:00+00:00", "2026-02-02T23:00:00+00:00"),
    ]


def test_script_check_broken_config(script: list[str], tmp_path: Path) -> None:
    (tmp_path / "memoguard.yaml").write_text(
        "timezone: Europe/Paris\npeople:\n  alice: {phone: 12}\n", encoding="utf-8"
    )
    (tmp_path / "rosters").mkdir()
    (tmp_path / "rosters" / "broken.yaml").write_text("name: broken\nlayers: [\n", encoding="utf-8")
    result = run([*script, "check"], cwd=tmp_path, expect=1)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    # Both files' problems at once, as ``file:line: path: message`` relative to the working directory.
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith("memoguard.yaml:3: people.alice.phone: ")
    assert lines[1].startswith(f"{Path('rosters') / 'broken.yaml'}:")
    assert "invalid YAML" in lines[1]
    assert lines[2] == "2 problems found; nothing was loaded"


def test_script_check_reports_six_mistakes_over_four_files_in_one_run(script: list[str]) -> None:
    # Issue 14: an unknown key, a bad duration, tab indentation, an unknown person in a roster, a policy
    # naming an unknown roster and a bad phone number, each with its file:line, in one run.
    case = Path(__file__).resolve().parents[1] / "fixtures" / "config" / "bad" / "six_mistakes"
    result = run([*script, "check"], cwd=case, expect=1)
    assert result.stdout == ""
    dba, infra = Path("rosters") / "dba.yaml", Path("rosters") / "infra.yaml"
    policy = Path("escalation_policies") / "default.yaml"
    assert result.stderr.splitlines() == [
        f"{policy}:4: steps[0].ack_within: invalid duration '5 minutes': expected a number and a unit "
        "(s, m, h, d, w), e.g. 30s, 5m, 4h, 1w",
        f"{policy}:5: steps[1].notify[0]: unknown roster 'web' (known: infra)",
        "memoguard.yaml:7: people.alice.fone: unknown key 'fone' (did you mean 'phone'?)",
        "memoguard.yaml:8: people.bruno.phone: invalid phone number '06 40 00': not a valid number for its country",
        f"{dba}:5: invalid YAML at column 1: found character '\\t' that cannot start any token",
        f"{infra}:5: layers[0].members[1]: unknown person 'zoe' (known: alice, bruno)",
        "6 problems found; nothing was loaded",
    ]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["oncall", "nope", "--at", "2026-01-06 20:00"], "unknown roster 'nope'"),
        (["oncall", "infra", "--at", "next tuesday"], "'next tuesday'"),
        (["simulate", "critical", "--ack-after", "3m", "--at", "2026-01-06 20:00"], "--ack-by"),
    ],
)
def test_module_usage_errors(args: list[str], fragment: str) -> None:
    result = run([*MODULE, *args], cwd=REPO, expect=2)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert fragment in errors[0]


# --- against a database, with nothing else running -----------------------------------------------------
# The service test configuration in a temporary directory (tests/conftest.py: service_dir), on a fresh
# SQLite file or on MEMOGUARD_TEST_DATABASE_URL. These commands use the real clock: nothing below depends
# on the time of day (who gets paged is read back from the incident).


def test_script_alarm_send_incidents_and_ack_without_a_service(script: list[str], service_dir: Path) -> None:
    def memoguard(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return run([*script, "--config", str(service_dir), *args], cwd=service_dir.parent, expect=expect)

    receipt = json.loads(
        memoguard("alarm", "send", "--summary", "disk full on db1", "--dedup-key", "db1", "--json").stdout
    )
    assert (receipt["outcome"], receipt["incident"]) == ("opened", "1")
    again = memoguard("alarm", "send", "--summary", "disk full on db1", "--dedup-key", "db1").stdout
    assert again == "Alarm 2 (cli/db1) attached to open incident 1\n"

    (listed,) = json.loads(memoguard("incidents", "--json").stdout)["incidents"]
    assert (listed["id"], listed["state"], listed["policy"], listed["alarms"]) == ("1", "triggered", "simple", 2)
    (paged,) = listed["paged"]  # whoever is on call for ops right now
    shown = json.loads(memoguard("incident", "1", "--json").stdout)
    # Nothing runs, so the page is still waiting in the outbox, with the step's ack timer armed.
    assert [(n["person"], n["status"]) for n in shown["notifications"]] == [(paged, "pending")]
    assert [t["kind"] for t in shown["timers"]] == ["ack_timeout"]

    out = memoguard("ack", "1", "--as", paged).stdout
    assert out == f"Incident 1 (acknowledged): {paged} acknowledged via cli; incident acknowledged by {paged}\n"
    out = memoguard("ack", "1", "--as", paged).stdout
    assert out.startswith("Nothing changed on incident 1 (acknowledged)")
    assert json.loads(memoguard("incidents", "--open", "--json").stdout)["incidents"][0]["acknowledged_by"] == [paged]
    assert "acknowledged" in memoguard("incident", "1").stdout


def test_script_action_errors_exit_1(script: list[str], service_dir: Path) -> None:
    def memoguard(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return run([*script, "--config", str(service_dir), *args], cwd=service_dir.parent, expect=expect)

    for args, message in [
        (("ack", "7", "--as", "alice"), "Error: no incident '7'"),
        (("incident", "7"), "Error: no incident '7'"),
        (("override", "remove", "7"), "Error: no override #7"),
    ]:
        result = memoguard(*args, expect=1)
        assert (result.stdout, result.stderr) == ("", message + "\n")
    memoguard("alarm", "send", "--summary", "disk full on db1")
    result = memoguard("resolve", "1", "--as", "root")
    assert result.stdout == "Incident 1 (resolved): Resolved by root via cli\n"
    result = memoguard("ack", "1", "--as", "root", expect=1)
    assert result.stderr == "Error: incident 1: Acknowledgement by root via cli ignored: the incident is resolved\n"


def test_script_override_seen_by_oncall(script: list[str], service_dir: Path) -> None:
    def memoguard(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        return run([*script, "--config", str(service_dir), *args], cwd=service_dir.parent, expect=expect)

    assert json.loads(memoguard("db", "status", "--json").stdout)["revision"] is None
    out = memoguard("override", "add", "ops", "--who", "dave", "--from", "now", "--to", "+2h").stdout
    assert out.startswith("Override #1 added: dave is on call for ops/primary from ")
    (row,) = json.loads(memoguard("oncall", "ops", "--level", "primary", "--at", "+1h", "--json").stdout)["oncall"]
    assert (row["person"], row["source"]) == ("dave", "override #1")
    status = json.loads(memoguard("db", "status", "--json").stdout)
    assert (status["ok"], status["revision"]) == (True, status["head"])
