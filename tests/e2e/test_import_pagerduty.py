"""``memoguard import pagerduty``: PagerDuty's saved REST API v2 answers (tests/fixtures/pagerduty/api,
written from its API reference: see the README there) or the same served by a fake on loopback become a
configuration directory that ``memoguard check`` accepts, whose roster puts the same people on call as
PagerDuty's own final schedule (a weekly layer across the US change to summer time, a nightly restriction
across midnight, a weekend restriction across days, an override), and a report of what did not carry
over."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from memoguard import bootstrap
from tests.support.importing import run
from tests.support.pagerduty import FakePagerDuty

API = Path(__file__).parents[1] / "fixtures" / "pagerduty" / "api"
NEW_YORK = ZoneInfo("America/New_York")
COMPARE = ("--compare", "45", "--from", "2026-03-01T00:00:00-05:00")


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    output = tmp_path / "imported"
    code, out = run("import", "pagerduty", "--from-dir", str(API), "--output", str(output))
    assert code == 0, out
    return output


def test_the_output_passes_check_and_says_where_each_object_came_from(imported: Path) -> None:
    code, out = run("check", str(imported))
    assert code == 0, out
    main = (imported / "memoguard.yaml").read_text(encoding="utf-8")
    assert "# PagerDuty user Alice Martin <alice@example.com> (PALICE1)" in main
    assert "# PagerDuty service 'Checkout API' (PSVC001)" in main
    roster = (imported / "rosters" / "Platform-primary.yaml").read_text(encoding="utf-8")
    assert "# From PagerDuty schedule 'Platform primary' (PSCHED1)" in roster
    assert "# From PagerDuty layer 'Nights' (PLAYB02)" in roster
    policy = (imported / "escalation_policies" / "Platform.yaml").read_text(encoding="utf-8")
    assert "# From PagerDuty escalation policy 'Platform' (PEP0001)" in policy


def test_people_get_e164_phones_language_and_channels(imported: Path) -> None:
    config = bootstrap.load(imported)
    alice, bruno, chloe = (config.people[n] for n in ("alice", "bruno", "chloe"))
    assert alice.phone == "+33612345678"
    assert alice.language == "fr"
    assert bruno.phone == "+12125550123"
    assert chloe.phone is None
    main = (imported / "memoguard.yaml").read_text(encoding="utf-8")
    assert "channels: [sms, voice, email]}   # PagerDuty user Alice" in main
    report = (imported / "IMPORT-REPORT.md").read_text(encoding="utf-8")
    assert "**user chloe@example.com**: no phone or SMS contact method" in report


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 3, 2, 9, 0), "david"),  # 8 weeks from Monday 5 January 09:00: alice, bruno, david
        (datetime(2026, 3, 3, 18, 59), "david"),
        (datetime(2026, 3, 3, 19, 0), "chloe"),  # the nights layer, across midnight
        (datetime(2026, 3, 4, 6, 59), "chloe"),
        (datetime(2026, 3, 4, 7, 0), "david"),
        (datetime(2026, 3, 6, 18, 0), "bruno"),  # the weekend layer beats the nights: Friday 18:00 …
        (datetime(2026, 3, 8, 23, 0), "bruno"),  # … through the US change to summer time (8 March) …
        (datetime(2026, 3, 9, 8, 59), "bruno"),  # … to Monday 09:00
        (datetime(2026, 3, 9, 9, 0), "alice"),  # the weekly turn, still at 09:00 wall-clock after DST
        (datetime(2026, 3, 13, 18, 0), "david"),  # next weekend: the other member
        (datetime(2030, 12, 25, 12, 0), "chloe"),  # the override in the future
    ],
)
def test_the_roster_follows_layers_restrictions_and_overrides(imported: Path, local: datetime, expected: str) -> None:
    roster = bootstrap.load(imported).rosters["Platform-primary"]
    found = roster.oncall(local.replace(tzinfo=NEW_YORK).astimezone(UTC))
    assert found is not None and found.person == expected


def test_the_policy_keeps_rules_delays_and_loops(imported: Path) -> None:
    policy = bootstrap.load(imported).policies["Platform"]
    assert [[f"{t.kind.value}:{t.name}" for t in step.targets] for step in policy.steps] == [
        ["roster:Platform-primary"],
        ["person:alice", "person:bruno"],
    ]
    assert [int(step.ack_within.total_seconds() // 60) for step in policy.steps] == [10, 15]
    assert policy.repeat == 2


def test_services_become_sources_and_routes(imported: Path) -> None:
    config = bootstrap.load(imported)
    assert [(sorted(r.sources), r.policy) for r in config.routes] == [
        (["Checkout-API"], "Platform"),
        (["Batch-jobs"], "Legacy"),
    ]


def test_the_report_names_every_setting_that_did_not_carry_over(imported: Path) -> None:
    report = (imported / "IMPORT-REPORT.md").read_text(encoding="utf-8")
    for words in (
        "push_notification_contact_method",
        "notification rules",
        "belongs to team Platform",
        "target schedule_reference Deleted schedule",
        "hand-off notifications always",
        "urgency rule use_support_hours",
        "support hours",
        "acknowledgement_timeout 600 s",
        "auto_resolve_timeout 14400 s",
        "integration(s) (Events API keys)",
    ):
        assert words in report, words


def test_a_missing_file_and_a_bad_envelope_are_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    (source / "schedules" / "PSCHED1.json").unlink()
    code, out = run("import", "pagerduty", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 1
    assert "PSCHED1.json: missing" in out
    (source / "users.json").write_text(json.dumps({"data": []}), encoding="utf-8")
    code, out = run("import", "pagerduty", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 1
    assert 'users.json: expected the API\'s envelope {"users": [ … ]}' in out


# --- --compare: PagerDuty's own final schedule against the written roster ---------------------------------


def test_compare_agrees_on_a_faithful_import_across_the_dst_change(tmp_path: Path) -> None:
    code, out = run("import", "pagerduty", "--from-dir", str(API), "-o", str(tmp_path / "o"), *COMPARE)
    assert code == 0, out
    assert "every hand-off over the next 45 days agrees with PagerDuty" in out


def test_compare_lists_every_disagreement_of_an_altered_import(tmp_path: Path) -> None:
    # The nights layer was changed to end at 06:00 after PagerDuty rendered its final schedule.
    source = tmp_path / "api"
    shutil.copytree(API, source)
    path = source / "schedules" / "PSCHED1.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["schedule"]["schedule_layers"][1]["restrictions"][0]["duration_seconds"] = 39600
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out = run("import", "pagerduty", "--from-dir", str(source), "-o", str(tmp_path / "o"), *COMPARE)
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith("Platform-primary ")]
    assert lines[0] == "Platform-primary Tue 2026-03-03 06:00 EST: PagerDuty ['chloe'], memoguard ['david']"
    assert "Platform-primary Thu 2026-03-12 06:00 EDT" not in out  # the override covers it on both sides
    assert f"{len(lines)} hand-offs disagree over the next 45 days" in out


# --- --api-key-file/--url: the same answers from a PagerDuty API on loopback -----------------------------


def test_the_live_api_is_read_page_by_page_and_gives_the_same_configuration(tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    code, out = run("import", "pagerduty", "--from-dir", str(API), "-o", str(saved), *COMPARE)
    assert code == 0, out
    key = tmp_path / "pagerduty.key"
    key.write_text("the-key\n", encoding="utf-8")
    output = tmp_path / "live"
    with FakePagerDuty("the-key", page_size=2) as api:
        code, out = run(
            "import", "pagerduty", "--api-key-file", str(key), "--url", api.url, "-o", str(output), *COMPARE
        )
    assert code == 0, out
    assert "every hand-off over the next 45 days agrees with PagerDuty" in out
    users = [r for r in api.requests if r.startswith("/users?")]
    assert users == [
        "/users?include%5B%5D=contact_methods&limit=100&offset=0",
        "/users?include%5B%5D=contact_methods&limit=100&offset=2",
    ]
    assert any(r.startswith("/schedules/PSCHED1?since=") for r in api.requests)
    for name in ("memoguard.yaml", "rosters/Platform-primary.yaml", "escalation_policies/Platform.yaml"):
        assert (output / name).read_text(encoding="utf-8") == (saved / name).read_text(encoding="utf-8"), name
    code, out = run("check", str(output))
    assert code == 0, out


def test_a_refused_api_key_is_said_and_nothing_is_written(tmp_path: Path) -> None:
    key = tmp_path / "pagerduty.key"
    key.write_text("wrong\n", encoding="utf-8")
    with FakePagerDuty("the-key") as api:
        code, out = run("import", "pagerduty", "--api-key-file", str(key), "--url", api.url, "-o", str(tmp_path / "o"))
    assert code == 1
    assert "PagerDuty refused the API key (401)" in out
    assert not (tmp_path / "o" / "memoguard.yaml").exists()


def test_a_layer_start_that_is_no_instant_is_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    path = source / "schedules" / "PSCHED1.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["schedule"]["schedule_layers"][2]["rotation_virtual_start"] = "2026-01-05 09:00"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out = run("import", "pagerduty", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 1
    assert "schedule Platform primary / layer Weekly: '2026-01-05 09:00' has no offset" in out


def test_an_unknown_time_zone_is_named(tmp_path: Path) -> None:
    source = tmp_path / "api"
    shutil.copytree(API, source)
    path = source / "schedules" / "PSCHED1.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    document["schedule"]["time_zone"] = "Mars/Olympus"
    path.write_text(json.dumps(document), encoding="utf-8")
    code, out = run("import", "pagerduty", "--from-dir", str(source), "-o", str(tmp_path / "o"))
    assert code == 1
    assert "schedule 'Platform primary': unknown time zone 'Mars/Olympus'" in out


@pytest.mark.parametrize("vendor", ["opsgenie", "grafana-oncall", "pagerduty"])
def test_from_dir_and_api_key_file_are_one_or_the_other(tmp_path: Path, vendor: str) -> None:
    key = tmp_path / "k.key"
    key.write_text("k\n", encoding="utf-8")
    code, out = run("import", vendor, "--from-dir", str(API), "--api-key-file", str(key), "-o", str(tmp_path / "o"))
    assert code == 2
    assert "one of them" in out
    key.write_text("\n", encoding="utf-8")
    # (the key is read before anything is sent: the URL is never asked)
    code, out = run(
        "import", vendor, "--api-key-file", str(key), "--url", "http://127.0.0.1:9", "-o", str(tmp_path / "o")
    )
    assert code == 1
    assert "k.key: empty" in out
