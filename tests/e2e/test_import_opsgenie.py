"""``memoguard import opsgenie --from-dir``: Opsgenie's saved API answers (tests/fixtures/opsgenie/api, written
from its REST API reference: see tests/fixtures/opsgenie/README.md) become a configuration directory that
``memoguard check`` accepts, whose rosters put the same people on call as the Opsgenie rotations they came
from (DST zones, a restriction across midnight and across the weekend, an override), and a report of what
did not carry over."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from memoguard import bootstrap
from tests.support.importing import run
from tests.support.opsgenie import FakeOpsgenie

API = Path(__file__).parents[1] / "fixtures" / "opsgenie" / "api"
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    output = tmp_path / "imported"
    code, out = run("import", "opsgenie", "--from-dir", str(API), "--output", str(output))
    assert code == 0, out
    return output


def test_the_output_passes_check(imported: Path) -> None:
    code, out = run("check", str(imported))
    assert code == 0, out
    assert "is valid" in out


def test_every_object_says_where_it_came_from(imported: Path) -> None:
    main = (imported / "memoguard.yaml").read_text(encoding="utf-8")
    assert "# Opsgenie user alice@example.com (u-alice)" in main
    roster = (imported / "rosters" / "Ops-Schedule.yaml").read_text(encoding="utf-8")
    assert "# From Opsgenie schedule 'Ops Schedule' (s-ops)" in roster
    assert "# From Opsgenie rotation 'Weeknights' (r-nights)" in roster
    policy = (imported / "escalation_policies" / "Ops_Escalation.yaml").read_text(encoding="utf-8")
    assert "# From Opsgenie escalation 'Ops_Escalation' (e-ops)" in policy


def test_people_get_e164_phones_and_a_user_without_one_is_reported(imported: Path) -> None:
    config = bootstrap.load(imported)
    assert config.people["alice"].phone == "+33612345678"
    assert config.people["chloe"].phone == "+12125550123"
    assert config.people["david"].phone is None
    report = (imported / "IMPORT-REPORT.md").read_text(encoding="utf-8")
    assert "user david@example.com**: no sms or voice contact" in report


@pytest.mark.parametrize(
    ("local", "zone", "roster", "expected"),
    [
        # Weekly from Monday 5 January 2026 08:30 Paris (07:30Z): alice, bruno, chloe.
        (datetime(2026, 1, 5, 9, 0), PARIS, "Ops-Schedule", {"alice"}),
        (datetime(2026, 1, 9, 17, 59), PARIS, "Ops-Schedule", {"alice"}),
        (datetime(2026, 1, 12, 8, 30), PARIS, "Ops-Schedule", {"bruno"}),
        (datetime(2026, 1, 20, 12, 0), PARIS, "Ops-Schedule", {"chloe"}),
        # Across the change to summer time (29 March 2026): the handoff stays at 08:30 wall-clock.
        (datetime(2026, 3, 27, 12, 0), PARIS, "Ops-Schedule", {"chloe"}),
        (datetime(2026, 3, 30, 8, 30), PARIS, "Ops-Schedule", {"alice"}),
        # Opsgenie notifies every rotation's on-call user: the weeknights rotation adds david inside its
        # restriction, Monday 18:00 to Tuesday 08:30 and Friday 18:00 round the weekend to Monday 08:30.
        (datetime(2026, 1, 5, 18, 0), PARIS, "Ops-Schedule", {"alice", "david"}),
        (datetime(2026, 1, 6, 8, 29), PARIS, "Ops-Schedule", {"alice", "david"}),
        (datetime(2026, 1, 6, 8, 30), PARIS, "Ops-Schedule", {"alice"}),
        (datetime(2026, 1, 6, 19, 0), PARIS, "Ops-Schedule", {"alice"}),  # Tuesday night: not in the restriction
        (datetime(2026, 1, 10, 3, 0), PARIS, "Ops-Schedule", {"alice", "david"}),
        (datetime(2026, 1, 12, 8, 0), PARIS, "Ops-Schedule", {"alice", "david"}),
        # The override in the future replaces every rotation's user.
        (datetime(2030, 12, 25, 12, 0), PARIS, "Ops-Schedule", {"david"}),
        # 12-hour shifts from 09:00 New York on 2 March 2026, on call only 22:00 to 06:00.
        (datetime(2026, 3, 2, 23, 0), NEW_YORK, "NYC-follow-the-sun", {"bruno"}),
        (datetime(2026, 3, 3, 5, 59), NEW_YORK, "NYC-follow-the-sun", {"bruno"}),
        (datetime(2026, 3, 3, 23, 0), NEW_YORK, "NYC-follow-the-sun", {"bruno"}),
        (datetime(2026, 3, 9, 23, 0), NEW_YORK, "NYC-follow-the-sun", {"bruno"}),  # after the US DST change
        (datetime(2026, 3, 3, 12, 0), NEW_YORK, "NYC-follow-the-sun", set()),
    ],
)
def test_the_rosters_put_the_same_people_on_call(
    imported: Path, local: datetime, zone: ZoneInfo, roster: str, expected: set[str]
) -> None:
    """Who the imported policy's first step pages (every level but the secondary), as Opsgenie would."""
    found = bootstrap.load(imported).rosters[roster]
    at = local.replace(tzinfo=zone).astimezone(UTC)
    levels = [level for level in found.level_names if level != "secondary"]
    assert {a.person for level in levels if (a := found.oncall(at, level)) is not None} == expected


def test_the_escalation_becomes_steps_by_delay(imported: Path) -> None:
    policy = bootstrap.load(imported).policies["Ops_Escalation"]
    targets = [
        [f"{t.kind.value}:{t.name}" + (f"/{t.level}" if t.level != "primary" else "") for t in step.targets]
        for step in policy.steps
    ]
    assert targets == [
        ["roster:Ops-Schedule", "roster:Ops-Schedule/Weeknights"],
        ["roster:Ops-Schedule/secondary"],
        ["person:alice", "person:bruno", "person:chloe"],
    ]
    assert policy.repeat == 2


def test_the_report_names_what_did_not_carry_over_and_is_printed(tmp_path: Path) -> None:
    code, out = run("import", "opsgenie", "--from-dir", str(API), "--output", str(tmp_path / "out"))
    assert code == 0
    report = (tmp_path / "out" / "IMPORT-REPORT.md").read_text(encoding="utf-8")
    assert report in out
    for words in (
        "notification rules",
        "participant none",
        "2 rotations, whose on-call users Opsgenie notifies together",
        "override old ended",
        "condition if-not-closed",
        "a rule to team ops",
        "Opsgenie's integrations, alert policies",
    ):
        assert words in report, words


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    (source / "schedules.json").unlink()
    code, out = run("import", "opsgenie", "--from-dir", str(source), "--output", str(tmp_path / "out"))
    assert code == 1
    assert "schedules.json: missing" in out
    assert not (tmp_path / "out").exists()


def test_a_file_without_the_data_envelope_is_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    (source / "users.json").write_text(json.dumps([{"id": "x"}]), encoding="utf-8")
    code, out = run("import", "opsgenie", "--from-dir", str(source), "--output", str(tmp_path / "out"))
    assert code == 1
    assert "users.json: expected Opsgenie's envelope" in out


def test_an_unknown_time_zone_is_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    schedules = json.loads((source / "schedules.json").read_text(encoding="utf-8"))
    schedules["data"][0]["timezone"] = "Mars/Olympus"
    (source / "schedules.json").write_text(json.dumps(schedules), encoding="utf-8")
    code, out = run("import", "opsgenie", "--from-dir", str(source), "--output", str(tmp_path / "out"))
    assert code == 1
    assert "schedule 'Ops Schedule': unknown time zone 'Mars/Olympus'" in out


def test_a_directory_not_empty_is_not_overwritten(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "memoguard.yaml").write_text("mine\n", encoding="utf-8")
    code, out = run("import", "opsgenie", "--from-dir", str(API), "--output", str(output))
    assert code == 1
    assert "not empty" in out
    assert (output / "memoguard.yaml").read_text(encoding="utf-8") == "mine\n"


# --- --compare: Opsgenie's rotations read again from the saved files, against the written rosters ------


def faithful(tmp_path: Path) -> Path:
    """The fixture without its 'none' slot: every rotation then has an exact equivalent."""
    source = tmp_path / "api"
    shutil.copytree(API, source)
    schedules = json.loads((source / "schedules.json").read_text(encoding="utf-8"))
    rotation = schedules["data"][0]["rotations"][1]
    rotation["participants"] = [p for p in rotation["participants"] if p["type"] == "user"]
    (source / "schedules.json").write_text(json.dumps(schedules), encoding="utf-8")
    return source


def test_compare_agrees_on_a_faithful_import_across_both_dst_changes(tmp_path: Path) -> None:
    code, out = run(
        "import", "opsgenie", "--from-dir", str(faithful(tmp_path)), "--output", str(tmp_path / "out"),
        "--compare", "120", "--from", "2026-03-01T00:00:00Z",
    )  # fmt: skip
    assert code == 0, out
    assert "every hand-off over the next 120 days agrees" in out


def test_compare_lists_every_disagreement_and_fails(tmp_path: Path) -> None:
    # The weeknights rotation alternates david with nobody in Opsgenie; the import cannot keep the empty slot.
    code, out = run(
        "import", "opsgenie", "--from-dir", str(API), "--output", str(tmp_path / "out"),
        "--compare", "14", "--from", "2026-01-05T00:00:00Z",
    )  # fmt: skip
    assert code == 1
    disagreements = [line for line in out.splitlines() if line.startswith("Ops-Schedule ")]
    assert disagreements == [
        "Ops-Schedule Sat 2026-01-10 18:00 CET: Opsgenie ['alice'], memoguard ['alice', 'david']",
        "Ops-Schedule Mon 2026-01-12 18:00 CET: Opsgenie ['bruno'], memoguard ['bruno', 'david']",
        "Ops-Schedule Fri 2026-01-16 18:00 CET: Opsgenie ['bruno'], memoguard ['bruno', 'david']",
        "Ops-Schedule Sun 2026-01-18 18:00 CET: Opsgenie ['bruno'], memoguard ['bruno', 'david']",
    ]
    assert "4 hand-offs disagree over the next 14 days" in out


def test_compare_needs_an_instant_with_an_offset(tmp_path: Path) -> None:
    code, out = run(
        "import", "opsgenie", "--from-dir", str(API), "--output", str(tmp_path / "out"),
        "--compare", "1", "--from", "2026-01-05 00:00",
    )  # fmt: skip
    assert code == 2
    assert "has no offset" in out


# --- --api-key-file/--url: the same data read from an Opsgenie API on loopback (tests/support/opsgenie.py) --


def test_the_live_api_is_read_page_by_page_and_gives_the_same_configuration(tmp_path: Path, imported: Path) -> None:
    key = tmp_path / "opsgenie.key"
    key.write_text("the-key\n", encoding="utf-8")
    output = tmp_path / "live"
    with FakeOpsgenie("the-key", page_size=2) as api:
        code, out = run("import", "opsgenie", "--api-key-file", str(key), "--url", api.url, "--output", str(output))
    assert code == 0, out
    assert [r for r in api.requests if r.startswith("/v2/users?")] == [
        "/v2/users?limit=100",
        "/v2/users?limit=2&offset=2",
    ]
    assert "/v2/schedules?expand=rotation" in api.requests
    for name in ("memoguard.yaml", "rosters/Ops-Schedule.yaml", "escalation_policies/Ops_Escalation.yaml"):
        assert (output / name).read_text(encoding="utf-8") == (imported / name).read_text(encoding="utf-8"), name
    assert (output / "opsgenie-export" / "users.json").is_file()
    code, out = run("check", str(output))
    assert code == 0, out


def test_a_refused_api_key_is_said_and_nothing_is_written(tmp_path: Path) -> None:
    key = tmp_path / "opsgenie.key"
    key.write_text("wrong\n", encoding="utf-8")
    with FakeOpsgenie("the-key") as api:
        code, out = run("import", "opsgenie", "--api-key-file", str(key), "--url", api.url, "-o", str(tmp_path / "o"))
    assert code == 1
    assert "Opsgenie refused the API key (401)" in out
    assert not (tmp_path / "o" / "memoguard.yaml").exists()


def test_from_dir_and_api_key_file_are_one_or_the_other(tmp_path: Path) -> None:
    key = tmp_path / "opsgenie.key"
    key.write_text("k\n", encoding="utf-8")
    code, out = run("import", "opsgenie", "--from-dir", str(API), "--api-key-file", str(key), "-o", str(tmp_path / "o"))
    assert code == 2
    assert "one of them" in out
    code, out = run("import", "opsgenie", "-o", str(tmp_path / "o"))
    assert code == 2
