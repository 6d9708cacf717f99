"""``memoguard import grafana-oncall``: Grafana OnCall's saved API answers (tests/fixtures/grafana_oncall/api,
written from its public API v1 reference: see the README there) or the same served by a fake on loopback
become a configuration directory that ``memoguard check`` accepts, whose roster puts the same people on
call as Grafana OnCall's own final shifts (a weekly rotation across the change to summer time, weeknight
shifts across midnight at a higher level, an override), and a report of what did not carry over."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from memoguard import bootstrap
from tests.support.grafana_oncall import FakeGrafanaOnCall
from tests.support.importing import run

API = Path(__file__).parents[1] / "fixtures" / "grafana_oncall" / "api"
PARIS = ZoneInfo("Europe/Paris")
COMPARE = ("--compare", "45", "--from", "2026-03-01T00:00:00Z")


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    output = tmp_path / "imported"
    code, out = run("import", "grafana-oncall", "--from-dir", str(API), "--output", str(output))
    assert code == 0, out
    return output


def test_the_output_passes_check_and_says_where_each_object_came_from(imported: Path) -> None:
    code, out = run("check", str(imported))
    assert code == 0, out
    main = (imported / "memoguard.yaml").read_text(encoding="utf-8")
    assert "# Grafana OnCall user alice (UALICE0000001)" in main
    assert "# Grafana OnCall integration 'Alertmanager prod' (CALERTMGR0001)" in main
    roster = (imported / "rosters" / "Ops.yaml").read_text(encoding="utf-8")
    assert "# From Grafana OnCall schedule 'Ops' (SOPS000000001)" in roster
    assert "# From Grafana OnCall shift 'Weeknights' (ONIGHT0000002), level 1" in roster
    policy = (imported / "escalation_policies" / "ops.yaml").read_text(encoding="utf-8")
    assert "# From Grafana OnCall escalation chain 'ops' (FOPS000000001)" in policy


def test_people_keep_phone_time_zone_and_a_user_without_phone_is_reported(imported: Path) -> None:
    config = bootstrap.load(imported)
    assert config.people["alice"].phone == "+33612345678"
    assert config.people["bruno"].phone == "+12125550123"
    assert config.people["chloe"].phone is None
    report = (imported / "IMPORT-REPORT.md").read_text(encoding="utf-8")
    assert "**user chloe**: no verified phone number" in report
    main = (imported / "memoguard.yaml").read_text(encoding="utf-8")
    assert "timezone: America/New_York" in main


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 3, 2, 9, 0), "alice"),  # the weekly rotation starts Monday 09:00 Paris
        (datetime(2026, 3, 2, 20, 0), "chloe"),  # weeknights (level 1) beat the weekly rotation
        (datetime(2026, 3, 3, 7, 59), "chloe"),  # across midnight, until 08:00
        (datetime(2026, 3, 3, 8, 0), "alice"),
        (datetime(2026, 3, 7, 23, 0), "alice"),  # Saturday night: no weeknight shift
        (datetime(2026, 3, 9, 9, 0), "bruno"),
        (datetime(2026, 3, 30, 9, 0), "alice"),  # after the change to summer time: still 09:00 wall-clock
        (datetime(2030, 12, 25, 3, 0), "bruno"),  # the Christmas override, in the future
    ],
)
def test_the_roster_follows_levels_windows_and_overrides(imported: Path, local: datetime, expected: str) -> None:
    roster = bootstrap.load(imported).rosters["Ops"]
    found = roster.oncall(local.replace(tzinfo=PARIS).astimezone(UTC))
    assert found is not None and found.person == expected


def test_the_chain_becomes_steps_split_by_waits(imported: Path) -> None:
    policy = bootstrap.load(imported).policies["ops"]
    targets = [[f"{t.kind.value}:{t.name}" for t in step.targets] for step in policy.steps]
    assert targets == [
        ["roster:Ops"],
        ["person:alice", "person:bruno"],
        ["person:alice", "person:bruno", "person:chloe"],  # the team's members
    ]
    assert [int(step.ack_within.total_seconds() // 60) for step in policy.steps] == [5, 10, 15]
    assert policy.repeat == 5


def test_integrations_become_sources_and_default_routes(imported: Path) -> None:
    config = bootstrap.load(imported)
    assert config.sources["Alertmanager-prod"].kind == "alertmanager"
    assert [(sorted(r.sources), r.policy) for r in config.routes] == [
        (["Alertmanager-prod"], "ops"),
        (["Scripts"], "low-priority"),
    ]


def test_the_report_names_every_setting_that_did_not_carry_over(imported: Path) -> None:
    report = (imported / "IMPORT-REPORT.md").read_text(encoding="utf-8")
    for words in (
        "personal notification rules",
        "schedule Legacy iCal**: type ical",
        "'important'",
        "notify_user_group",
        "a step to team TOPS00000001",
        "trigger_webhook",
        "repeat_escalation",
        "notify_person_next_each_time",
        "type resolve",
        "routing by regex",
        "integration Scripts**: type webhook",
    ):
        assert words in report, words


def test_a_missing_file_and_a_bad_envelope_are_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    (source / "schedules.json").unlink()
    code, out = run("import", "grafana-oncall", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 1
    assert "schedules.json: missing" in out
    (source / "schedules.json").write_text(json.dumps([]), encoding="utf-8")
    code, out = run("import", "grafana-oncall", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 1
    assert 'schedules.json: expected the API\'s envelope {"results": [ … ]}' in out


def test_an_unknown_time_zone_is_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    schedules = json.loads((source / "schedules.json").read_text(encoding="utf-8"))
    schedules["results"][0]["time_zone"] = "Mars/Olympus"
    (source / "schedules.json").write_text(json.dumps(schedules), encoding="utf-8")
    code, out = run("import", "grafana-oncall", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 1
    assert "schedule 'Ops': unknown time zone 'Mars/Olympus'" in out


# --- --compare: Grafana OnCall's own final shifts against the written roster ---------------------------


def test_compare_agrees_on_a_faithful_import_across_the_dst_change(tmp_path: Path) -> None:
    code, out = run("import", "grafana-oncall", "--from-dir", str(API), "-o", str(tmp_path / "o"), *COMPARE)
    assert code == 0, out
    assert "every hand-off over the next 45 days agrees with Grafana OnCall" in out


def test_compare_lists_every_disagreement_of_an_altered_import(tmp_path: Path) -> None:
    # The rotation's order changed after Grafana OnCall rendered its final shifts: every week disagrees.
    source = tmp_path / "api"
    shutil.copytree(API, source)
    shifts = json.loads((source / "on_call_shifts.json").read_text(encoding="utf-8"))
    shifts["results"][0]["start_rotation_from_user_index"] = 1
    (source / "on_call_shifts.json").write_text(json.dumps(shifts), encoding="utf-8")
    code, out = run("import", "grafana-oncall", "--from-dir", str(source), "-o", str(tmp_path / "o"), *COMPARE)
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith("Ops ")]
    assert lines[0] == "Ops Mon 2026-03-02 09:00 CET: Grafana OnCall ['alice'], memoguard ['bruno']"
    assert "Ops Mon 2026-03-30 09:00 CEST: Grafana OnCall ['alice'], memoguard ['bruno']" in lines
    assert f"{len(lines)} hand-offs disagree over the next 45 days" in out


# --- --api-key-file/--url: the same answers from a Grafana OnCall API on loopback -------------------------


def test_the_live_api_is_read_page_by_page_and_gives_the_same_configuration(tmp_path: Path) -> None:
    imported = tmp_path / "saved"
    code, out = run("import", "grafana-oncall", "--from-dir", str(API), "-o", str(imported), *COMPARE)
    assert code == 0, out
    key = tmp_path / "oncall.key"
    key.write_text("the-key\n", encoding="utf-8")
    output = tmp_path / "live"
    with FakeGrafanaOnCall("the-key", page_size=2) as api:
        code, out = run(
            "import", "grafana-oncall", "--api-key-file", str(key), "--url", api.url, "-o", str(output), *COMPARE
        )
    assert code == 0, out
    assert "every hand-off over the next 45 days agrees" in out
    assert "/api/v1/users/?page=2" in api.requests
    assert any(r.startswith("/api/v1/schedules/SOPS000000001/final_shifts?") for r in api.requests)
    for name in ("memoguard.yaml", "rosters/Ops.yaml", "escalation_policies/ops.yaml"):
        assert (output / name).read_text(encoding="utf-8") == (imported / name).read_text(encoding="utf-8"), name
    assert (output / "grafana-oncall-export" / "on_call_shifts.json").is_file()
    code, out = run("check", str(output))
    assert code == 0, out


def test_a_refused_api_key_is_said_and_nothing_is_written(tmp_path: Path) -> None:
    key = tmp_path / "oncall.key"
    key.write_text("wrong\n", encoding="utf-8")
    with FakeGrafanaOnCall("the-key") as api:
        code, out = run(
            "import", "grafana-oncall", "--api-key-file", str(key), "--url", api.url, "-o", str(tmp_path / "o")
        )
    assert code == 1
    assert "Grafana OnCall refused the API key (401)" in out
    assert not (tmp_path / "o" / "memoguard.yaml").exists()


def test_a_shift_start_that_is_no_date_is_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    shifts = json.loads((source / "on_call_shifts.json").read_text(encoding="utf-8"))
    shifts["results"][0]["start"] = "next monday"
    (source / "on_call_shifts.json").write_text(json.dumps(shifts), encoding="utf-8")
    code, out = run("import", "grafana-oncall", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 1
    assert "schedule Ops / shift Weekly: start 'next monday' is not yyyy-MM-ddTHH:mm:ss" in out


def test_compare_without_saved_final_shifts_names_the_file(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    shutil.rmtree(source / "final_shifts")
    code, out = run("import", "grafana-oncall", "--from-dir", str(source), "-o", str(tmp_path / "o"), *COMPARE)
    assert code == 1
    assert "final_shifts/SOPS000000001.json: missing" in out


def test_a_monthly_shift_is_reported_not_guessed(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    shifts = json.loads((source / "on_call_shifts.json").read_text(encoding="utf-8"))
    shifts["results"][1]["frequency"] = "monthly"
    (source / "on_call_shifts.json").write_text(json.dumps(shifts), encoding="utf-8")
    code, out = run("import", "grafana-oncall", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 0, out
    assert "**schedule Ops / shift Weeknights**: frequency monthly" in out
    assert "Weeknights" not in (tmp_path / "o" / "rosters" / "Ops.yaml").read_text(encoding="utf-8")


class PagingElsewhere(FakeGrafanaOnCall):
    """A Grafana OnCall whose ``next`` links point to another origin (which is never contacted)."""

    def _page(self, path: str, items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
        page = super()._page(path, items, query)
        if page["next"]:
            page["next"] = page["next"].replace(self.url, "http://127.0.0.2:9")
        return page


def test_a_next_link_to_another_origin_is_not_followed_with_the_key(tmp_path: Path) -> None:
    key = tmp_path / "oncall.key"
    key.write_text("the-key\n", encoding="utf-8")
    with PagingElsewhere("the-key", page_size=2) as api:
        code, out = run(
            "import", "grafana-oncall", "--api-key-file", str(key), "--url", api.url, "-o", str(tmp_path / "o")
        )
    assert code == 1
    assert "Grafana OnCall's paging points away from" in out
    assert "not followed" in out


def test_the_api_needs_a_url_since_grafana_oncall_has_no_one_address(tmp_path: Path) -> None:
    key = tmp_path / "oncall.key"
    key.write_text("the-key\n", encoding="utf-8")
    code, out = run("import", "grafana-oncall", "--api-key-file", str(key), "-o", str(tmp_path / "o"))
    assert code == 2
    assert "give --url with --api-key-file" in out
