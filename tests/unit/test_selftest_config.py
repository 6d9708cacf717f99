"""The ``self_test`` and ``logging`` settings of memoguard.yaml (issue 19): the schedule's grammar and
its next run across daylight-saving changes, and every bad value with a clear message at its place."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from memoguard.config.loader import load_config
from memoguard.config.problem import ConfigError
from memoguard.domain.errors import InvalidValueError
from memoguard.domain.selftest import parse_schedule
from tests.conftest import SERVICE_FIXTURE

PARIS = ZoneInfo("Europe/Paris")


def test_the_grammar() -> None:
    assert parse_schedule("mon 10:00", PARIS).days == frozenset({0})
    assert parse_schedule("mon,thu 10:00", PARIS).days == frozenset({0, 3})
    assert parse_schedule("lun 10:00", PARIS).days == frozenset({0})
    assert parse_schedule("day 07:30", PARIS).days == frozenset(range(7))
    every = parse_schedule("07:30", PARIS)
    assert every.days == frozenset(range(7)) and every.at == time(7, 30)
    assert parse_schedule("mon,thu 10:00", PARIS).describe() == "mon,thu 10:00 Europe/Paris"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("monday at 10", "expected '[DAYS] HH:MM'"),
        ("mon 25:00", "invalid time of day '25:00'"),
        ("someday 10:00", "invalid weekday 'someday'"),
        ("", "expected '[DAYS] HH:MM'"),
    ],
)
def test_a_bad_schedule_says_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_schedule(text, PARIS)


def test_next_run_keeps_its_wall_clock_time_across_daylight_saving() -> None:
    monday = parse_schedule("mon 10:00", PARIS)
    # Monday 2027-10-25 10:00 CEST (08:00Z); the clocks go back on Sunday the 31st.
    first = datetime(2027, 10, 25, 8, 0, tzinfo=UTC)
    assert monday.next_after(first - timedelta(seconds=1)) == first
    assert monday.next_after(first) == datetime(2027, 11, 1, 9, 0, tzinfo=UTC)  # 10:00 CET
    # 02:30 does not exist on 2027-03-28 in Paris: the run happens at the change (03:00 CEST, 01:00Z).
    skipped = parse_schedule("sun 02:30", PARIS)
    assert skipped.next_after(datetime(2027, 3, 27, 12, 0, tzinfo=UTC)) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    # The repeated hour of 2027-10-31: its first occurrence (CEST), once.
    repeated = parse_schedule("sun 02:30", PARIS)
    once = repeated.next_after(datetime(2027, 10, 30, 12, 0, tzinfo=UTC))
    assert once == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert repeated.next_after(once) == datetime(2027, 11, 7, 1, 30, tzinfo=UTC)


def directory_with(tmp_path: Path, extra: str) -> Path:
    target = tmp_path / "config"
    shutil.copytree(SERVICE_FIXTURE, target)
    main = target / "memoguard.yaml"
    text = f"database: sqlite:///{tmp_path}/mg.db\n" + main.read_text(encoding="utf-8") + extra
    main.write_text(text, encoding="utf-8")
    return target


def problems(tmp_path: Path, extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(directory_with(tmp_path, extra))
    return str(caught.value)


def test_a_self_test_loads(tmp_path: Path) -> None:
    config = load_config(
        directory_with(tmp_path, 'self_test: {every: "mon 10:00", to: "roster:ops", policy: simple, timeout: 10m}\n')
    )
    assert config.self_test is not None
    assert config.self_test.schedule.zone == PARIS  # memoguard.yaml's zone by default
    assert str(config.self_test.target) == "roster:ops" and config.self_test.timeout == timedelta(minutes=10)
    assert config.logging.format == "auto" and config.logging.level == "info"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ('self_test: {every: "mon 10", to: "roster:ops", policy: simple}\n', ["self_test.every", "invalid time"]),
        ('self_test: {every: "mon 10:00", to: "roster:nope", policy: simple}\n', ["self_test.to", "nope"]),
        ('self_test: {every: "mon 10:00", to: "person:zoe", policy: simple}\n', ["self_test.to", "zoe"]),
        ('self_test: {every: "mon 10:00", to: "roster:ops", policy: nope}\n', ["self_test.policy", "nope"]),
        ('self_test: {every: "mon 10:00", to: "roster:ops"}\n', ["self_test.policy", "required key is missing"]),
        ('self_test: {every: "mon 10:00", to: "ops", policy: simple}\n', ["self_test.to", "invalid target"]),
        ('self_test: {every: "mon 10:00", to: "roster:ops", policy: simple, timeout: 0s}\n', ["timeout"]),
        (
            'self_test: {every: "mon 10:00", to: "roster:ops", policy: simple, timezone: Mars/Olympus}\n',
            ["self_test.timezone", "Mars/Olympus"],
        ),
        ("logging: {format: xml}\n", ["logging.format", "'auto', 'json', 'text' or 'journald'"]),
        ("logging: {level: loud}\n", ["logging.level", "'debug', 'info', 'warning' or 'error'"]),
    ],
)
def test_bad_settings_are_reported_at_their_place(tmp_path: Path, extra: str, words: list[str]) -> None:
    text = problems(tmp_path, extra)
    for word in words:
        assert word in text, text
