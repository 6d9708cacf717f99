"""End-to-end tests of the ``memoguard`` command line through click's CliRunner, on the repository's own
example configuration (its root is a configuration directory) and on tiny configurations written in tmp_path.

The real clock is never read: every command gets ``--at``/``--from``, and every invocation injects a fake
clock anyway. Expected answers are derived by hand from rosters/*.yaml and escalation_policies/*.yaml:

* infra ``astreinte``: alice, bruno, chloe, david, one week each from Mon 2026-01-05 08:30 (Europe/Paris),
  so the week starting Monday 2026-01-05 + 7k belongs to members[k % 4]; active weeknights 18:00–08:30,
  weekends, Monday until 08:30 and French public holidays; it is the higher layer.
* infra ``business-hours``: emma, farid, one day each from 2026-01-05 08:30, so day d (counted from
  2026-01-05, weekends included) belongs to members[d % 2]; active Mon–Fri 08:30–18:00.
* infra secondary = offset 1 (the next member of the running rotation); override david 2026-12-24 18:00 →
  2026-12-26 08:30 (primary only).
* dba: gaelle, hugo, ines, 12-hour shifts at 08:00 and 20:00 from 2026-01-05 08:00.
* Europe/Paris is UTC+1 in winter, UTC+2 in summer; clocks change on 2026-03-29 and 2026-10-25.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from memoguard import __version__
from memoguard.cli import cli
from memoguard.cli.context import AppContext
from tests.conftest import example_copy

REPO = example_copy()  # the example configuration, away from the working tree's memoguard.db
PARIS = ZoneInfo("Europe/Paris")
# What the fake clock says unless a test sets it: a Wednesday afternoon nobody asserts on by accident.
DEFAULT_NOW = datetime(2026, 6, 17, 15, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def invoke(args: Sequence[str], config: Path = REPO, now: datetime = DEFAULT_NOW, expect: int = 0) -> Result:
    """Run ``memoguard --config CONFIG ARGS`` with a fake clock; check the exit code and that nothing crashed."""
    runner = CliRunner(env={"COLUMNS": "200", "MEMOGUARD_CONFIG": None})
    result = runner.invoke(cli, ["--config", str(config), *args], obj=AppContext(config, clock=FakeClock(now)))
    assert result.exit_code == expect, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    # Whatever the exit code, it came from click (SystemExit), not from an exception escaping a command.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


def invoke_json(args: Sequence[str], **kwargs: Any) -> Any:
    return json.loads(invoke([*args, "--json"], **kwargs).stdout)


def usage_error(args: Sequence[str], config: Path = REPO) -> str:
    """Run a command that must be refused as a usage error (exit 2); return its one ``Error:`` line."""
    result = invoke(args, config=config, expect=2)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def utc(text: str) -> datetime:
    """An instant written as ``YYYY-MM-DDTHH:MMZ``, for readable expectations."""
    return datetime.fromisoformat(text)


def instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value} is not an aware ISO 8601 instant"
    return parsed


# --- a configuration with a gap, written per test -------------------------------------------------------

MAIN_YAML = """\
timezone: Europe/Paris
people:
  alice: {phone: "+33 6 12 34 56 78", channels: [sms]}
  bob:   {phone: "+33 6 12 34 56 79", channels: [sms]}
channels:
  sms: [console]
providers:
  console: {kind: console}
"""

WEEKDAYS_ONLY_ROSTER = """\
name: office
layers:
  - name: weekdays
    members: [alice, bob]
    shift: 1w
    handoff: "mon 09:00"
    start: 2026-01-05
    active:
      - {days: [mon, tue, wed, thu, fri]}
"""


@pytest.fixture
def gappy_config(tmp_path: Path) -> Path:
    """One roster, covered Monday 00:00 to Saturday 00:00 only: every weekend is a gap."""
    (tmp_path / "memoguard.yaml").write_text(MAIN_YAML, encoding="utf-8")
    (tmp_path / "rosters").mkdir()
    (tmp_path / "rosters" / "office.yaml").write_text(WEEKDAYS_ONLY_ROSTER, encoding="utf-8")
    return tmp_path


# --- version and help -----------------------------------------------------------------------------------


def test_version() -> None:
    result = invoke(["--version"])
    assert result.stdout.strip() == f"memoguard, version {__version__}"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_command(flag: str) -> None:
    out = invoke([flag]).stdout
    assert "Usage:" in out
    assert "--config" in out
    for command in ("check", "oncall", "roster", "simulate"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), f"{command} missing from --help"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["roster", "--help"], ["show", "gaps"]),
        (["oncall", "--help"], ["--level", "--at", "--json"]),
        (["roster", "show", "--help"], ["--days", "--from", "--level", "--json"]),
        (["roster", "gaps", "--help"], ["--days", "--from", "--json"]),
        (["simulate", "--help"], ["--at", "--ack-after", "--ack-by", "--json"]),
        (["check", "--help"], ["--json"]),
    ],
)
def test_subcommand_help(args: list[str], expected: list[str]) -> None:
    out = invoke(args).stdout
    for word in expected:
        assert word in out


# --- check ----------------------------------------------------------------------------------------------


def test_check_repository_config_prints_tables() -> None:
    out = invoke(["check"]).stdout
    for title in ("People", "Rosters", "Escalation policies", "Routes", "Heartbeats", "Recurring silences"):
        assert title in out
    assert "nightly-backup" in out and "sun 02:00-04:00 Europe/Paris" in out
    for name in ("alice", "olivier", "nadia (admin)", "infra", "dba", "critical", "database", "default"):
        assert name in out
    assert "+33612345678" in out  # the national and spaced number, stored as E.164
    assert "is valid" in out


def test_check_json_lists_rosters_and_policies() -> None:
    summary = invoke_json(["check"])
    assert summary["valid"] is True
    assert set(summary["rosters"]) == {"infra", "dba"}
    assert summary["rosters"]["infra"] == {
        "timezone": "Europe/Paris",
        "levels": ["primary", "secondary"],
        "layers": ["business-hours", "astreinte"],
    }
    assert set(summary["policies"]) == {"critical", "database", "default"}
    assert summary["policies"]["critical"] == {"acknowledgement": "double", "steps": 3, "repeat": 1}
    assert summary["policies"]["default"]["acknowledgement"] == "single"
    assert {"alice", "bruno", "chloe", "david", "olivier", "pauline", "quentin"} <= set(summary["people"])
    assert [route["policy"] for route in summary["routes"]] == ["database", "critical", "default"]
    # Issue 17: the heartbeats (and where a miss goes) and the recurring silences loaded.
    assert summary["heartbeats"] == {
        "nightly-backup": {"every": "1d", "grace": "2h", "policy": "critical"},
        "prometheus": {"every": "5m", "grace": "2m", "policy": "critical"},
    }
    assert summary["silences"] == [
        {
            "id": "yaml:sunday-patching",
            "every": "sun 02:00-04:00 Europe/Paris",
            "match": "team=dba",
            "comment": "weekly database patching",
        }
    ]


def test_check_takes_the_directory_as_an_argument(gappy_config: Path, tmp_path: Path) -> None:
    # --config points somewhere that is not a configuration; the argument wins.
    summary = invoke_json(["check", str(gappy_config)], config=tmp_path / "nowhere")
    assert set(summary["rosters"]) == {"office"}
    assert summary["people"] == ["alice", "bob"]


def test_check_broken_config_lists_every_problem_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "memoguard.yaml").write_text(MAIN_YAML.replace("Europe/Paris", "Europe/Nowhere"), encoding="utf-8")
    (tmp_path / "rosters").mkdir()
    (tmp_path / "rosters" / "office.yaml").write_text(WEEKDAYS_ONLY_ROSTER.replace("bob", "zoe"), encoding="utf-8")
    result = invoke(["check"], config=tmp_path, expect=1)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'memoguard.yaml'}:1: timezone: ")
    assert "'Europe/Nowhere'" in lines[0]
    # members: [alice, zoe] is on line 4 of the roster file.
    assert lines[1].startswith(f"{tmp_path / 'rosters' / 'office.yaml'}:4: layers[0].members[1]: ")
    assert "'zoe'" in lines[1]
    assert lines[2:] == ["2 problems found; nothing was loaded"]
    for line in lines[:2]:
        assert re.fullmatch(r"\S+:\d+: \S+: .+", line), line


def test_check_broken_config_with_json_still_reports_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "memoguard.yaml").write_text(MAIN_YAML + "unexpected_key: 1\n", encoding="utf-8")
    result = invoke(["check", "--json"], config=tmp_path, expect=1)
    assert result.stdout == ""
    assert re.match(rf"{re.escape(str(tmp_path / 'memoguard.yaml'))}:9: unexpected_key: ", result.stderr)


def test_check_on_a_directory_without_configuration(tmp_path: Path) -> None:
    result = invoke(["check"], config=tmp_path, expect=1)
    assert "memoguard.yaml" in result.stderr
    assert "not a memoguard configuration directory" in result.stderr


def test_other_commands_refuse_a_broken_config_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "memoguard.yaml").write_text(MAIN_YAML.replace("Europe/Paris", "Mars/Olympus"), encoding="utf-8")
    result = invoke(["oncall", "--at", "2026-01-06 20:00"], config=tmp_path, expect=1)
    assert result.stdout == ""
    assert ":1: timezone: " in result.stderr


# --- oncall ---------------------------------------------------------------------------------------------

ONCALL_CASES = [
    pytest.param(
        # Week 0 (from Mon 2026-01-05 08:30) is alice's; Tuesday 18:00 → Wednesday 08:30 (UTC+1).
        "2026-01-06 20:00",
        ("alice", "astreinte", "2026-01-06T17:00Z", "2026-01-07T07:30Z"),
        ("bruno", "astreinte", "2026-01-06T17:00Z", "2026-01-07T07:30Z"),
        id="weeknight",
    ),
    pytest.param(
        # Day 2 after 2026-01-05 → emma (08:30 → 18:00); farid is the next of the daily rotation.
        "2026-01-07 10:00",
        ("emma", "business-hours", "2026-01-07T07:30Z", "2026-01-07T17:00Z"),
        ("farid", "business-hours", "2026-01-07T07:30Z", "2026-01-07T17:00Z"),
        id="business-hours",
    ),
    pytest.param(
        # Saturday of week 0: alice from Friday 18:00 to Monday 08:30.
        "2026-01-10 12:00",
        ("alice", "astreinte", "2026-01-09T17:00Z", "2026-01-12T07:30Z"),
        ("bruno", "astreinte", "2026-01-09T17:00Z", "2026-01-12T07:30Z"),
        id="weekend",
    ),
    pytest.param(
        # Monday before 08:30: still the previous week's astreinte (the weekly handoff is at 08:30).
        "2026-01-12 07:00",
        ("alice", "astreinte", "2026-01-09T17:00Z", "2026-01-12T07:30Z"),
        ("bruno", "astreinte", "2026-01-09T17:00Z", "2026-01-12T07:30Z"),
        id="monday-early",
    ),
    pytest.param(
        # Bastille Day, a Tuesday of week 27 (27 % 4 = 3, david): the astreinte runs from Monday 18:00 right
        # through the holiday to Wednesday 08:30 (UTC+2), above business hours.
        "2026-07-14 12:00",
        ("david", "astreinte", "2026-07-13T16:00Z", "2026-07-15T06:30Z"),
        ("alice", "astreinte", "2026-07-13T16:00Z", "2026-07-15T06:30Z"),
        id="public-holiday",
    ),
    pytest.param(
        # Easter Monday (week 13, bruno): the weekly handoff at 08:30 still happens, then bruno holds the whole
        # holiday until Tuesday 08:30.
        "2026-04-06 12:00",
        ("bruno", "astreinte", "2026-04-06T06:30Z", "2026-04-07T06:30Z"),
        ("chloe", "astreinte", "2026-04-06T06:30Z", "2026-04-07T06:30Z"),
        id="easter-monday",
    ),
    pytest.param(
        # Christmas Day: the override puts david on primary from Dec 24 18:00 to Dec 26 08:30. Week 50 is
        # chloe's (50 % 4 = 2), whose secondary would be david; a backup is never the primary, so the next
        # member, alice, backs david up for as long as the override lasts.
        "2026-12-25 12:00",
        ("david", "override", "2026-12-24T17:00Z", "2026-12-26T07:30Z"),
        ("alice", "astreinte", "2026-12-24T17:00Z", "2026-12-26T07:30Z"),
        id="christmas-override",
    ),
    pytest.param(
        # The override starts at 18:00 on the 24th (inclusive).
        "2026-12-24 18:00",
        ("david", "override", "2026-12-24T17:00Z", "2026-12-26T07:30Z"),
        ("alice", "astreinte", "2026-12-24T17:00Z", "2026-12-26T07:30Z"),
        id="override-start",
    ),
    pytest.param(
        # …and ends at 08:30 on the 26th (exclusive): back to week 50's astreinte, chloe, for the weekend,
        # with david as her secondary again.
        "2026-12-26 08:30",
        ("chloe", "astreinte", "2026-12-26T07:30Z", "2026-12-28T07:30Z"),
        ("david", "astreinte", "2026-12-26T07:30Z", "2026-12-28T07:30Z"),
        id="override-end",
    ),
    pytest.param(
        # Spring DST night (week 11, david): from Friday 18:00 UTC+1 to Monday 08:30 UTC+2.
        "2026-03-29 12:00",
        ("david", "astreinte", "2026-03-27T17:00Z", "2026-03-30T06:30Z"),
        ("alice", "astreinte", "2026-03-27T17:00Z", "2026-03-30T06:30Z"),
        id="dst-spring",
    ),
    pytest.param(
        # The Monday after the change: the 08:30 handoff is 08:30 summer time; day 84 → emma.
        "2026-03-30 08:30",
        ("emma", "business-hours", "2026-03-30T06:30Z", "2026-03-30T16:00Z"),
        ("farid", "business-hours", "2026-03-30T06:30Z", "2026-03-30T16:00Z"),
        id="dst-spring-monday-handoff",
    ),
    pytest.param(
        # Autumn DST night (week 41, bruno): from Friday 18:00 UTC+2 to Monday 08:30 UTC+1.
        "2026-10-25 12:00",
        ("bruno", "astreinte", "2026-10-23T16:00Z", "2026-10-26T07:30Z"),
        ("chloe", "astreinte", "2026-10-23T16:00Z", "2026-10-26T07:30Z"),
        id="dst-autumn",
    ),
]


@pytest.mark.parametrize(("at", "primary", "secondary"), ONCALL_CASES)
def test_oncall_infra_json(at: str, primary: tuple[str, ...], secondary: tuple[str, ...]) -> None:
    data = invoke_json(["oncall", "infra", "--at", at])
    assert set(data) == {"at", "oncall"}
    assert instant(data["at"]) == datetime.fromisoformat(at).replace(tzinfo=PARIS)
    rows = data["oncall"]
    assert [(row["roster"], row["level"]) for row in rows] == [("infra", "primary"), ("infra", "secondary")]
    for row, (person, source, start, until) in zip(rows, (primary, secondary), strict=True):
        assert set(row) == {"roster", "level", "person", "source", "from", "until"}
        assert (row["person"], row["source"]) == (person, source), row
        assert (instant(row["from"]), instant(row["until"])) == (utc(start), utc(until)), row


@pytest.mark.parametrize(("at", "primary", "secondary"), ONCALL_CASES)
def test_oncall_level_secondary_only(at: str, primary: tuple[str, ...], secondary: tuple[str, ...]) -> None:
    rows = invoke_json(["oncall", "infra", "--level", "secondary", "--at", at])["oncall"]
    assert [(row["level"], row["person"], row["source"]) for row in rows] == [("secondary", *secondary[:2])]


def test_oncall_table() -> None:
    out = invoke(["oncall", "infra", "--at", "2026-07-14 12:00"]).stdout
    assert "On call at Tue 2026-07-14 12:00 (Europe/Paris)" in out
    primary = next(line for line in out.splitlines() if "primary" in line)
    assert "david" in primary
    assert "astreinte" in primary
    assert "Mon 2026-07-13 18:00" in primary
    assert "Wed 2026-07-15 08:30" in primary


def test_oncall_every_roster_by_default() -> None:
    rows = invoke_json(["oncall", "--at", "2026-01-06 20:00"])["oncall"]
    # dba: shift (2026-01-06 20:00 - 2026-01-05 08:00) / 12h = 3 → 3 % 3 = 0, gaelle; the backup rotation's
    # first week is nadia's.
    assert [(r["roster"], r["level"], r["person"]) for r in rows] == [
        ("dba", "primary", "gaelle"),
        ("dba", "secondary", "nadia"),
        ("infra", "primary", "alice"),
        ("infra", "secondary", "bruno"),
    ]


def test_oncall_dba_secondary_has_its_own_layers() -> None:
    row = invoke_json(["oncall", "dba", "--level", "secondary", "--at", "2026-01-13 09:00"])["oncall"][0]
    assert (row["person"], row["source"]) == ("gaelle", "dba-backup")
    assert (instant(row["from"]), instant(row["until"])) == (utc("2026-01-12T07:00Z"), utc("2026-01-19T07:00Z"))


def test_oncall_at_a_time_skipped_by_dst_means_the_change() -> None:
    # 02:30 does not exist on 2026-03-29: it reads as 03:00 summer time, the moment of the change.
    data = invoke_json(["oncall", "infra", "--at", "2026-03-29 02:30"])
    assert instant(data["at"]) == utc("2026-03-29T01:00Z")
    assert data["oncall"][0]["person"] == "david"


def test_oncall_at_a_repeated_time_takes_the_first_and_iso_offsets_pick_either() -> None:
    first = invoke_json(["oncall", "infra", "--at", "2026-10-25 02:30"])
    assert instant(first["at"]) == utc("2026-10-25T00:30Z")
    second = invoke_json(["oncall", "infra", "--at", "2026-10-25T02:30+01:00"])
    assert instant(second["at"]) == utc("2026-10-25T01:30Z")
    for data in (first, second):
        assert data["oncall"][0]["person"] == "bruno"
        assert instant(data["oncall"][0]["until"]) == utc("2026-10-26T07:30Z")


def test_oncall_accepts_utc_iso_input() -> None:
    data = invoke_json(["oncall", "infra", "--at", "2026-01-06T19:00:00Z"])
    assert instant(data["at"]) == utc("2026-01-06T19:00Z")
    assert data["oncall"][0]["person"] == "alice"


def test_oncall_now_and_relative_times_use_the_clock() -> None:
    now = datetime(2026, 1, 7, 7, 0, tzinfo=PARIS)  # Wednesday 07:00: still alice's weeknight
    assert invoke_json(["oncall", "infra"], now=now)["oncall"][0]["person"] == "alice"
    assert invoke_json(["oncall", "infra", "--at", "now"], now=now)["oncall"][0]["person"] == "alice"
    later = invoke_json(["oncall", "infra", "--at", "+2h"], now=now)
    assert instant(later["at"]) == now + timedelta(hours=2)
    # 09:00 on day 2: business hours, emma.
    assert (later["oncall"][0]["person"], later["oncall"][0]["source"]) == ("emma", "business-hours")


def test_oncall_relative_time_in_the_table() -> None:
    out = invoke(["oncall", "infra", "--at", "+1d1h30m"], now=datetime(2026, 1, 5, 12, 0, tzinfo=PARIS)).stdout
    assert "On call at Tue 2026-01-06 13:30" in out


def test_oncall_reports_a_gap(gappy_config: Path) -> None:
    data = invoke_json(["oncall", "office", "--at", "2026-03-07 12:00"], config=gappy_config)
    row = data["oncall"][0]
    assert (row["person"], row["source"]) == (None, None)
    assert (instant(row["from"]), instant(row["until"])) == (utc("2026-03-06T23:00Z"), utc("2026-03-08T23:00Z"))
    out = invoke(["oncall", "office", "--at", "2026-03-07 12:00"], config=gappy_config).stdout
    assert "nobody (gap)" in out


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["oncall", "nope", "--at", "2026-01-06 20:00"], ["unknown roster 'nope'", "dba, infra"]),
        (["oncall", "infra", "--level", "tertiary", "--at", "2026-01-06 20:00"], ["no level 'tertiary'", "secondary"]),
        (["oncall", "--level", "tertiary", "--at", "2026-01-06 20:00"], ["no level 'tertiary'"]),
        (["oncall", "infra", "--at", "tomorrow"], ["--at", "'tomorrow'"]),
        (["oncall", "infra", "--at", "2026-02-30 10:00"], ["--at", "'2026-02-30 10:00'"]),
        (["oncall", "infra", "--at", "+2x"], ["--at", "'2x'"]),
        (["oncall", "infra", "--at", ""], ["--at", "''"]),
    ],
)
def test_oncall_usage_errors(args: list[str], fragments: list[str]) -> None:
    error = usage_error(args)
    for fragment in fragments:
        assert fragment in error


# --- roster show ----------------------------------------------------------------------------------------


def assert_tiles(segments: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    """Segments cover [start, end) exactly, in order, without overlap, and neighbours differ."""
    assert segments, "no segments"
    assert instant(segments[0]["start"]) == start
    assert instant(segments[-1]["end"]) == end
    for before, after in itertools.pairwise(segments):
        assert instant(before["end"]) == instant(after["start"]), (before, after)
        assert (before["person"], before["source"]) != (after["person"], after["source"]), (before, after)
    for segment in segments:
        assert instant(segment["start"]) < instant(segment["end"]), segment


@pytest.mark.parametrize("start", ["2026-03-23 00:00", "2026-10-19 00:00", "2026-12-21 00:00"])
def test_roster_show_json_tiles_the_window(start: str) -> None:
    data = invoke_json(["roster", "show", "infra", "--from", start, "--days", "14"])
    assert set(data) == {"roster", "timezone", "from", "to", "levels"}
    assert (data["roster"], data["timezone"]) == ("infra", "Europe/Paris")
    begin = datetime.fromisoformat(start).replace(tzinfo=PARIS)
    assert instant(data["from"]) == begin
    # 14 days on the wall clock, even across a DST change.
    assert instant(data["to"]).astimezone(PARIS).replace(tzinfo=None) == begin.replace(tzinfo=None) + timedelta(14)
    assert list(data["levels"]) == ["primary", "secondary"]
    for segments in data["levels"].values():
        assert set(segments[0]) == {"start", "end", "person", "source"}
        assert_tiles(segments, begin, instant(data["to"]))
        assert all(segment["person"] for segment in segments), "the example infra roster has no gap"
        # Every change of hands is at a layer edge or handoff: 08:30 or 18:00 local, DST or not (the
        # Christmas override also starts at 18:00 and ends at 08:30).
        for segment in segments[1:]:
            assert instant(segment["start"]).astimezone(PARIS).strftime("%H:%M") in {"08:30", "18:00"}, segment


def test_roster_show_weekly_handoffs_on_both_sides_of_spring_dst() -> None:
    data = invoke_json(["roster", "show", "infra", "--level", "primary", "--from", "2026-03-20 00:00", "--days", "14"])
    assert list(data["levels"]) == ["primary"]
    astreinte = [s for s in data["levels"]["primary"] if s["source"] == "astreinte"]
    ends = {instant(s["end"]): s["person"] for s in astreinte}
    # Week 10 (chloe) hands over on Mon 03-23 08:30 UTC+1, week 11 (david) on Mon 03-30 08:30 UTC+2.
    assert ends[utc("2026-03-23T07:30Z")] == "chloe"
    assert ends[utc("2026-03-30T06:30Z")] == "david"
    starts = {instant(s["start"]): s["person"] for s in astreinte}
    assert starts[utc("2026-03-23T17:00Z")] == "david"  # Monday 18:00 UTC+1
    assert starts[utc("2026-03-30T16:00Z")] == "alice"  # Monday 18:00 UTC+2


def test_roster_show_weekly_handoffs_on_both_sides_of_autumn_dst() -> None:
    data = invoke_json(["roster", "show", "infra", "--level", "primary", "--from", "2026-10-16 00:00", "--days", "14"])
    astreinte = [s for s in data["levels"]["primary"] if s["source"] == "astreinte"]
    ends = {instant(s["end"]): s["person"] for s in astreinte}
    assert ends[utc("2026-10-19T06:30Z")] == "alice"  # week 40 ends Mon 10-19 08:30 UTC+2
    assert ends[utc("2026-10-26T07:30Z")] == "bruno"  # week 41 ends Mon 10-26 08:30 UTC+1


@pytest.mark.parametrize(
    ("start", "night_start", "night_person", "night_hours"),
    [
        # Shift 165 (165 % 3 = 0, gaelle) runs Saturday 20:00 → Sunday 08:00 through the lost hour: 11h.
        ("2026-03-28 00:00", "2026-03-28T19:00Z", "gaelle", 11),
        # Shift 585 (gaelle again) runs through the repeated hour: 13h.
        ("2026-10-24 00:00", "2026-10-24T18:00Z", "gaelle", 13),
    ],
)
def test_roster_show_dba_twelve_hour_shifts_keep_local_handoffs_across_dst(
    start: str, night_start: str, night_person: str, night_hours: int
) -> None:
    data = invoke_json(["roster", "show", "dba", "--level", "primary", "--from", start, "--days", "2"])
    segments = data["levels"]["primary"]
    assert_tiles(segments, instant(data["from"]), instant(data["to"]))
    for segment in segments[1:]:
        assert instant(segment["start"]).astimezone(PARIS).strftime("%H:%M") in {"08:00", "20:00"}
    night = next(s for s in segments if instant(s["start"]) == utc(night_start))
    assert night["person"] == night_person
    assert instant(night["end"]) - instant(night["start"]) == timedelta(hours=night_hours)
    full = [s for s in segments if s is not night and s is not segments[0] and s is not segments[-1]]
    assert all(instant(s["end"]) - instant(s["start"]) == timedelta(hours=12) for s in full)


def test_roster_show_table() -> None:
    out = invoke(["roster", "show", "infra", "--from", "2026-03-27 00:00", "--days", "4"]).stdout
    assert "infra / primary — 4 days from Fri 2026-03-27 00:00 (Europe/Paris)" in out
    assert "infra / secondary" in out
    weekend = next(line for line in out.splitlines() if "Fri 2026-03-27 18:00" in line and "david" in line)
    assert "Mon 2026-03-30 08:30" in weekend
    assert "2d13h30m" in weekend  # 62h30 of wall clock, 61h30 of real time: the length is real time


def test_roster_show_defaults_to_the_clock_and_fourteen_days() -> None:
    now = datetime(2026, 1, 6, 20, 0, tzinfo=PARIS)
    data = invoke_json(["roster", "show", "infra"], now=now)
    assert instant(data["from"]) == now
    assert instant(data["to"]) == now + timedelta(days=14)  # no DST change in January
    assert data["levels"]["primary"][0]["person"] == "alice"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["roster", "show", "nope", "--from", "2026-01-06 00:00"], ["unknown roster 'nope'", "dba, infra"]),
        (["roster", "show", "infra", "--level", "x", "--from", "2026-01-06 00:00"], ["no level 'x'"]),
        (["roster", "show", "infra", "--from", "yesterday"], ["--from", "'yesterday'"]),
        (["roster", "show", "infra", "--from", "2026-01-06 00:00", "--days", "0"], ["--days"]),
        (["roster", "gaps", "--from", "soon"], ["--from", "'soon'"]),
    ],
)
def test_roster_usage_errors(args: list[str], fragments: list[str]) -> None:
    error = usage_error(args)
    for fragment in fragments:
        assert fragment in error


# --- roster gaps ----------------------------------------------------------------------------------------


def test_roster_gaps_none_in_the_repository_config() -> None:
    result = invoke(["roster", "gaps", "--from", "2026-03-01 00:00", "--days", "60"])
    assert "No gaps" in result.stdout
    data = invoke_json(["roster", "gaps", "--from", "2026-03-01 00:00", "--days", "60"])
    assert data["gaps"] == []
    assert instant(data["from"]) == utc("2026-02-28T23:00Z")


def test_roster_gaps_default_window_uses_the_clock() -> None:
    data = invoke_json(["roster", "gaps"], now=datetime(2026, 9, 1, 10, 0, tzinfo=PARIS))
    assert instant(data["from"]) == datetime(2026, 9, 1, 10, 0, tzinfo=PARIS)
    assert instant(data["to"]) == datetime(2026, 10, 1, 10, 0, tzinfo=PARIS)
    assert data["gaps"] == []


def test_roster_gaps_before_the_rotations_start() -> None:
    # Nobody is on call before the first handoffs on 2026-01-05 (08:00 for dba, 08:30 for infra).
    data = invoke_json(["roster", "gaps", "--from", "2026-01-05 00:00", "--days", "1"], expect=1)
    assert [(g["roster"], g["level"], g["start"], g["end"]) for g in data["gaps"]] == [
        ("dba", "primary", "2026-01-04T23:00:00+00:00", "2026-01-05T07:00:00+00:00"),
        ("dba", "secondary", "2026-01-04T23:00:00+00:00", "2026-01-05T07:00:00+00:00"),
        ("infra", "primary", "2026-01-04T23:00:00+00:00", "2026-01-05T07:30:00+00:00"),
        ("infra", "secondary", "2026-01-04T23:00:00+00:00", "2026-01-05T07:30:00+00:00"),
    ]


def test_roster_gaps_found(gappy_config: Path) -> None:
    out = invoke(["roster", "gaps", "--from", "2026-03-02 00:00", "--days", "14"], config=gappy_config, expect=1).stdout
    rows = [line for line in out.splitlines() if "office" in line]
    assert len(rows) == 2
    assert "Sat 2026-03-07 00:00" in rows[0]
    assert "Mon 2026-03-09 00:00" in rows[0]
    assert "2d" in rows[0]
    assert "Sat 2026-03-14 00:00" in rows[1]
    assert "Mon 2026-03-16 00:00" in rows[1]  # the end of the window


def test_roster_gaps_found_json(gappy_config: Path) -> None:
    data = invoke_json(["roster", "gaps", "--from", "2026-03-02 00:00", "--days", "14"], config=gappy_config, expect=1)
    assert set(data) == {"from", "to", "gaps", "double_duty"}
    assert data["double_duty"] == []
    assert data["gaps"] == [
        {
            "roster": "office",
            "level": "primary",
            "start": "2026-03-06T23:00:00+00:00",
            "end": "2026-03-08T23:00:00+00:00",
        },
        {
            "roster": "office",
            "level": "primary",
            "start": "2026-03-13T23:00:00+00:00",
            "end": "2026-03-15T23:00:00+00:00",
        },
    ]


def test_roster_gaps_across_dst_keep_local_midnights(gappy_config: Path) -> None:
    data = invoke_json(["roster", "gaps", "--from", "2026-03-23 00:00", "--days", "14"], config=gappy_config, expect=1)
    assert [(instant(g["start"]), instant(g["end"])) for g in data["gaps"]] == [
        (utc("2026-03-27T23:00Z"), utc("2026-03-29T22:00Z")),  # Sat 00:00 UTC+1 → Mon 00:00 UTC+2: 47h
        (utc("2026-04-03T22:00Z"), utc("2026-04-05T22:00Z")),
    ]


def test_roster_show_on_a_gappy_roster_marks_the_gaps(gappy_config: Path) -> None:
    data = invoke_json(["roster", "show", "office", "--from", "2026-03-02 00:00", "--days", "7"], config=gappy_config)
    segments = data["levels"]["primary"]
    assert_tiles(segments, instant(data["from"]), instant(data["to"]))
    # Week 8 (from Mon 03-02 09:00) is alice's; the weekend is a gap.
    assert [(s["person"], s["source"]) for s in segments] == [
        ("bob", "weekdays"),
        ("alice", "weekdays"),
        (None, None),
    ]
    out = invoke(["roster", "show", "office", "--from", "2026-03-02 00:00", "--days", "7"], config=gappy_config).stdout
    assert "nobody (gap)" in out


# --- simulate -------------------------------------------------------------------------------------------

WEEKNIGHT = "2026-01-06 20:00"  # infra: alice primary, bruno secondary


def timeline(data: dict[str, Any]) -> list[tuple[timedelta, dict[str, Any]]]:
    start = instant(data["start"])
    return [(instant(entry["at"]) - start, entry) for entry in data["entries"]]


def pages(data: dict[str, Any]) -> list[tuple[int, str, int | None]]:
    """(minutes after the alarm, person, step) of every page."""
    return [
        (int(offset / timedelta(minutes=1)), entry["person"], entry["step"])
        for offset, entry in timeline(data)
        if entry["type"] == "notify" and entry["purpose"] == "page"
    ]


def test_simulate_critical_reaches_the_crisis_cell_after_two_passes() -> None:
    data = invoke_json(["simulate", "critical", "--at", WEEKNIGHT])
    assert instant(data["start"]) == utc("2026-01-06T19:00Z")
    # ack_within 5m, 10m, 10m: a pass lasts 25m; repeat 1 → two passes, then the crisis cell at +50m.
    assert pages(data) == [
        (0, "alice", 1),
        (5, "bruno", 2),
        (5, "alice", 2),
        (15, "nadia", 3),
        (25, "alice", 1),
        (30, "bruno", 2),
        (30, "alice", 2),
        (40, "nadia", 3),
        (50, "olivier", None),
        (50, "pauline", None),
        (50, "quentin", None),
    ]
    channels = {(e["person"], e["step"]): e["channels"] for _, e in timeline(data) if e["type"] == "notify"}
    assert channels["alice", 1] == ["sms", "voice"]
    assert channels["nadia", 3] == ["voice", "sms", "email"]
    assert channels["quentin", None] == ["sms", "voice", "email"]
    kinds = [(int(offset / timedelta(minutes=1)), e["kind"]) for offset, e in timeline(data) if e["type"] == "record"]
    assert (25, "repeated") in kinds
    assert kinds[0] == (0, "triggered")
    assert kinds[-1] == (50, "crisis")
    crisis = timeline(data)[-1][1]
    assert "+33123456789" in crisis["text"]
    assert "15m" in data["end"]


def test_simulate_json_structure() -> None:
    data = invoke_json(["simulate", "critical", "--at", WEEKNIGHT])
    assert set(data) == {"policy", "start", "entries", "end"}
    assert data["policy"] == "critical"
    assert isinstance(data["end"], str)
    for entry in data["entries"]:
        instant(entry["at"])
        if entry["type"] == "notify":
            assert set(entry) == {"at", "type", "person", "channels", "purpose", "step", "reason"}
            assert entry["purpose"] in {"page", "status"}
        else:
            assert entry["type"] == "record"
            assert set(entry) == {"at", "type", "kind", "text"}
    ats = [instant(entry["at"]) for entry in data["entries"]]
    assert ats == sorted(ats)


def test_simulate_table() -> None:
    out = invoke(["simulate", "critical", "--at", WEEKNIGHT]).stdout
    assert "Policy critical: alarm at Tue 2026-01-06 20:00 (Europe/Paris)" in out
    crisis_rows = [line for line in out.splitlines() if "crisis cell" in line and "+50m" in line]
    assert {name for name in ("olivier", "pauline", "quentin") if any(name in row for row in crisis_rows)} == {
        "olivier",
        "pauline",
        "quentin",
    }
    assert "Then: the crisis cell is paged again every 15m" in out


def test_simulate_single_ack_stops_the_escalation() -> None:
    data = invoke_json(["simulate", "default", "--at", WEEKNIGHT, "--ack-after", "3m", "--ack-by", "alice"])
    acked = [offset for offset, e in timeline(data) if e["type"] == "record" and e["kind"] == "acknowledged"]
    assert acked == [timedelta(minutes=3)]
    # Nobody else is paged once alice has acknowledged: step 2 (bruno at +15m) never happens. The default
    # policy's reack_after 8h is the only thing that pages again, exactly 8h after the acknowledgement.
    assert [p for p in pages(data) if p[0] < 8 * 60 + 3] == [(0, "alice", 1)]
    assert pages(data)[1] == (8 * 60 + 3, "alice", 1)
    assert "bruno" not in {p[1] for p in pages(data) if p[0] < 8 * 60}


def test_simulate_ack_by_someone_not_paged_is_refused() -> None:
    data = invoke_json(["simulate", "default", "--at", WEEKNIGHT, "--ack-after", "3m", "--ack-by", "olivier"])
    assert any(e["type"] == "record" and e["kind"] == "refused" for _, e in timeline(data))
    assert pages(data) == [(0, "alice", 1), (15, "bruno", 2), (30, "nadia", 3)]


def test_simulate_double_ack_without_confirmation_resumes_after_confirm_within() -> None:
    data = invoke_json(["simulate", "critical", "--at", WEEKNIGHT, "--ack-after", "3m", "--ack-by", "alice"])
    # alice acks step 1 at +3m; without confirmation within 20m the escalation resumes at +23m with step 2.
    assert [p for p in pages(data) if p[0] < 23] == [(0, "alice", 1)]
    assert [p for p in pages(data) if p[0] == 23] == [(23, "bruno", 2), (23, "alice", 2)]
    notices = [(offset, e["person"], e["reason"]) for offset, e in timeline(data) if e.get("purpose") == "status"]
    assert notices == [(timedelta(minutes=23), "alice", "confirm_timeout")]
    # Then on as usual: nadia 10m later, the second pass, and the crisis cell.
    assert pages(data)[3] == (33, "nadia", 3)
    assert pages(data)[-3:] == [(68, "olivier", None), (68, "pauline", None), (68, "quentin", None)]


def test_simulate_relative_start_uses_the_clock() -> None:
    now = datetime(2026, 1, 6, 18, 0, tzinfo=PARIS)
    data = invoke_json(["simulate", "critical", "--at", "+2h"], now=now)
    assert instant(data["start"]) == now + timedelta(hours=2)
    assert pages(data)[0] == (0, "alice", 1)


def test_simulate_business_hours_pages_the_desk() -> None:
    # Wednesday 2026-01-07 10:00: emma is primary, farid secondary.
    data = invoke_json(["simulate", "default", "--at", "2026-01-07 10:00"])
    assert pages(data) == [(0, "emma", 1), (15, "farid", 2), (30, "nadia", 3)]
    assert "exhausted" in [e.get("kind") for _, e in timeline(data)]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["simulate", "nope", "--at", WEEKNIGHT], ["unknown policy 'nope'", "critical, database, default"]),
        (["simulate", "default", "--at", WEEKNIGHT, "--ack-after", "3m"], ["--ack-after", "--ack-by"]),
        (["simulate", "default", "--at", WEEKNIGHT, "--ack-by", "alice"], ["--ack-after", "--ack-by"]),
        (["simulate", "default", "--at", WEEKNIGHT, "--ack-after", "3x", "--ack-by", "alice"], ["--ack-after", "'3x'"]),
        (["simulate", "default", "--at", WEEKNIGHT, "--ack-after", "3m", "--ack-by", "zoe"], ["'zoe'"]),
        (["simulate", "default", "--at", "25:00"], ["--at", "'25:00'"]),
    ],
)
def test_simulate_usage_errors(args: list[str], fragments: list[str]) -> None:
    error = usage_error(args)
    for fragment in fragments:
        assert fragment in error


SOLO_ROSTER = """\
name: solo
layers:
  - {name: all, members: [alice], shift: 1w, handoff: "mon 09:00", start: 2026-01-05}
"""


@pytest.fixture
def solo_config(tmp_path: Path) -> Path:
    """alice alone, round the clock, from Mon 2026-01-05 09:00: her stretch never ends."""
    (tmp_path / "memoguard.yaml").write_text(MAIN_YAML, encoding="utf-8")
    (tmp_path / "rosters").mkdir()
    (tmp_path / "rosters" / "solo.yaml").write_text(SOLO_ROSTER, encoding="utf-8")
    return tmp_path


def test_oncall_from_and_until_are_null_beyond_what_was_looked_at(solo_config: Path) -> None:
    # Early on, the stretch visibly starts at the first handoff.
    row = invoke_json(["oncall", "solo", "--at", "2026-01-06 12:00"], config=solo_config)["oncall"][0]
    assert (row["person"], instant(row["from"]), row["until"]) == ("alice", utc("2026-01-05T08:00Z"), None)
    # Months later it started before the look-back window: unknown (null), not the window's edge.
    row = invoke_json(["oncall", "solo", "--at", "2026-09-01 12:00"], config=solo_config)["oncall"][0]
    assert (row["person"], row["from"], row["until"]) == ("alice", None, None)
    # Before the rotation starts nobody is on call, until the first handoff.
    row = invoke_json(["oncall", "solo", "--at", "2026-01-05 08:00"], config=solo_config)["oncall"][0]
    assert (row["person"], row["from"], instant(row["until"])) == (None, None, utc("2026-01-05T08:00Z"))


# --- someone on two levels at once ----------------------------------------------------------------------

DBA_WARNING = (
    "levels.secondary: warning: roster 'dba': gaelle is on call at primary and secondary at once, 5 times in 7 days "
    "from Mon 2026-01-12 00:00: Mon 2026-01-12 20:00 to Tue 2026-01-13 08:00, Wed 2026-01-14 08:00 to "
    "Wed 2026-01-14 20:00, Thu 2026-01-15 20:00 to Fri 2026-01-16 08:00 and 2 more; paging secondary then "
    "wakes gaelle again instead of someone else"
)


def test_roster_gaps_warns_about_someone_on_two_levels_at_once() -> None:
    # The example dba roster: gaelle's backup week comes round every other week, while she holds one
    # 12-hour shift in three.
    result = invoke(["roster", "gaps", "--from", "2026-01-12 00:00", "--days", "7"])
    assert "No gaps" in result.stdout
    assert result.stderr.splitlines() == [f"{REPO / 'rosters' / 'dba.yaml'}:12: {DBA_WARNING}"]
    data = invoke_json(["roster", "gaps", "--from", "2026-01-12 00:00", "--days", "7"])
    [found] = data["double_duty"]
    assert (found["roster"], found["levels"], found["person"]) == ("dba", ["primary", "secondary"], "gaelle")
    assert [(p["start"], p["end"]) for p in found["periods"]] == [
        ("2026-01-12T19:00:00+00:00", "2026-01-13T07:00:00+00:00"),
        ("2026-01-14T07:00:00+00:00", "2026-01-14T19:00:00+00:00"),
        ("2026-01-15T19:00:00+00:00", "2026-01-16T07:00:00+00:00"),
        ("2026-01-17T07:00:00+00:00", "2026-01-17T19:00:00+00:00"),
        ("2026-01-18T19:00:00+00:00", "2026-01-18T23:00:00+00:00"),  # the end of the window
    ]


def test_check_warns_about_someone_on_two_levels_at_once_and_still_exits_0() -> None:
    result = invoke(["check", "--from", "2026-01-12 00:00", "--days", "7"])
    assert "is valid" in result.stdout
    assert result.stderr.splitlines() == [f"{REPO / 'rosters' / 'dba.yaml'}:12: {DBA_WARNING}"]
    summary = invoke_json(["check", "--from", "2026-01-12 00:00", "--days", "7"])
    assert summary["warnings"] == [f"{REPO / 'rosters' / 'dba.yaml'}:12: {DBA_WARNING}"]
    # nadia is the backup the week before: nothing to say.
    quiet = invoke(["check", "--from", "2026-01-05 00:00", "--days", "7"])
    assert quiet.stderr == ""
    assert invoke_json(["check", "--from", "2026-01-05 00:00", "--days", "7"])["warnings"] == []


def test_check_looks_at_the_coming_30_days_by_default() -> None:
    # The default clock of these tests is 2026-06-17 17:00 in Paris.
    lines = invoke(["check"]).stderr.splitlines()
    assert len(lines) == 1
    assert "from Wed 2026-06-17 17:00" in lines[0]
    assert "in 30 days" in lines[0]
