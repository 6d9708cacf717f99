"""Maintenance windows in the domain: recurring windows across DST, matching, and ``decide`` on a
silenced incident (held, released at the window's end, resolved while held)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from memoguard.domain.effect import CancelTimers, Notify, Purpose, Record, ScheduleTimer
from memoguard.domain.errors import InvalidValueError
from memoguard.domain.escalation import decide
from memoguard.domain.event import Acked, AlarmAttached, Resolved, Silenced, TimerFired, TimerKind, Triggered
from memoguard.domain.incident import Incident, IncidentState
from memoguard.domain.policy import AckRule, Policy, Step, Target
from memoguard.domain.silence import Matcher, Silence, holding, parse_every

PARIS = ZoneInfo("Europe/Paris")
SUNDAY_NIGHT = parse_every("sunday 02:00-04:00", PARIS)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- recurring windows ---------------------------------------------------------------------------------


def test_an_ordinary_sunday_is_two_hours_of_paris_time() -> None:
    # 2026-01-11 is a Sunday; Paris is UTC+1 in winter.
    assert SUNDAY_NIGHT.window_at(utc(2026, 1, 11, 1, 30)) == (utc(2026, 1, 11, 1), utc(2026, 1, 11, 3))
    assert SUNDAY_NIGHT.window_at(utc(2026, 1, 11, 0, 59)) is None
    assert SUNDAY_NIGHT.window_at(utc(2026, 1, 11, 3, 0)) is None  # the end is excluded
    assert SUNDAY_NIGHT.window_at(utc(2026, 1, 12, 1, 30)) is None  # a Monday


def test_the_spring_change_leaves_one_real_hour() -> None:
    # 2026-03-29, last Sunday of March: 02:00 CET jumps to 03:00 CEST. 02:00 does not exist and is read
    # as 02:00 CET (01:00 UTC), which is 03:00 CEST; 04:00 CEST is 02:00 UTC.
    assert SUNDAY_NIGHT.window_at(utc(2026, 3, 29, 1, 30)) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))
    assert SUNDAY_NIGHT.window_at(utc(2026, 3, 29, 2, 0)) is None
    assert SUNDAY_NIGHT.window_at(utc(2026, 3, 29, 0, 59)) is None


def test_the_autumn_change_gives_three_real_hours() -> None:
    # 2026-10-25, last Sunday of October: 03:00 CEST falls back to 02:00 CET. 02:00 is read at its first
    # occurrence (CEST, 00:00 UTC) and 04:00 CET is 03:00 UTC.
    assert SUNDAY_NIGHT.window_at(utc(2026, 10, 25, 0, 0)) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 3))
    assert SUNDAY_NIGHT.window_at(utc(2026, 10, 25, 2, 59)) is not None
    assert SUNDAY_NIGHT.window_at(utc(2026, 10, 24, 23, 59)) is None


def test_a_window_across_midnight_ends_the_next_day() -> None:
    nights = parse_every("sat,sun 22:00-06:00", ZoneInfo("UTC"))
    # Sunday 2026-01-11 at 05:00 is in Saturday's window; Monday 05:00 in Sunday's.
    assert nights.window_at(utc(2026, 1, 11, 5)) == (utc(2026, 1, 10, 22), utc(2026, 1, 11, 6))
    assert nights.window_at(utc(2026, 1, 12, 5)) == (utc(2026, 1, 11, 22), utc(2026, 1, 12, 6))
    assert nights.window_at(utc(2026, 1, 13, 5)) is None
    assert parse_every("day 02:00-03:00", PARIS).days == frozenset(range(7))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sunday", "expected DAYS HH:MM-HH:MM"),
        ("sunday 02:00", "expected DAYS HH:MM-HH:MM"),
        ("funday 02:00-04:00", "invalid weekday 'funday'"),
        ("sunday 25:00-04:00", "invalid time of day '25:00'"),
        ("sunday 02:00-02:00", "starts and ends at 02:00"),
    ],
)
def test_a_bad_window_is_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        parse_every(text, PARIS)


# --- matching ------------------------------------------------------------------------------------------


def test_holding_picks_the_matching_window_that_ends_last() -> None:
    now = utc(2026, 1, 6, 12)
    db1 = Matcher(labels=(("host", "db1"),))
    short = Silence("1", db1, "patch", now - timedelta(hours=1), now + timedelta(hours=1))
    long = Silence("2", db1, "upgrade", now, now + timedelta(hours=3))
    other = Silence("3", Matcher(sources=frozenset({"zabbix"})), "", now, now + timedelta(days=1))
    past = Silence("4", db1, "", now - timedelta(hours=3), now - timedelta(hours=1))
    hold = holding([short, long, other, past], "prom", "critical", {"host": "db1"}, now)
    assert hold is not None and hold.silence.id == "2" and hold.until == now + timedelta(hours=3)
    assert holding([short, long], "prom", "critical", {"host": "db2"}, now) is None
    removed = Silence("5", db1, "", now, now + timedelta(hours=1), removed_at=now)
    assert holding([removed], "prom", "critical", {"host": "db1"}, now) is None
    assert Matcher(frozenset({"prom"}), frozenset({"warning"}), (("host", "db1"),)).describe() == (
        "source=prom, severity=warning, host=db1"
    )


# --- decide --------------------------------------------------------------------------------------------

NOW = utc(2026, 1, 6, 3)
POLICY = Policy("p", (Step((Target.parse("person:alice"),), ("sms",), timedelta(minutes=5)),), AckRule())
HELD = Silenced("silence 7 (kernel upgrade)", NOW + timedelta(hours=2))


def opened() -> Incident:
    return Incident("1", "disk full", POLICY, (), NOW)


def pages(effects: list[object]) -> list[str]:
    return [e.person for e in effects if isinstance(e, Notify) and e.purpose == Purpose.PAGE]


def test_a_silenced_incident_pages_nobody_and_waits_for_the_window_end() -> None:
    incident, effects = decide(opened(), HELD, NOW)
    assert incident.state == IncidentState.SILENCED
    assert pages(effects) == []
    assert effects[0] == CancelTimers()
    assert effects[-1] == ScheduleTimer(TimerKind.SILENCE_END, NOW + timedelta(hours=2), 1)
    record = next(e for e in effects if isinstance(e, Record))
    assert record.kind == "silenced" and "silence 7 (kernel upgrade)" in record.text


def test_still_open_at_the_window_end_it_escalates_then() -> None:
    incident, _ = decide(opened(), HELD, NOW)
    incident, _ = decide(incident, AlarmAttached("disk still full"), NOW + timedelta(minutes=30))
    assert incident.state == IncidentState.SILENCED
    end = NOW + timedelta(hours=2)
    incident, effects = decide(incident, TimerFired(TimerKind.SILENCE_END, incident.version), end)
    assert incident.state == IncidentState.TRIGGERED and incident.step == 0
    assert pages(effects) == ["alice"]
    kinds = [e.kind for e in effects if isinstance(e, Record)]
    assert kinds[:2] == ["silence_ended", "triggered"]


def test_resolved_during_the_silence_never_pages() -> None:
    incident, _ = decide(opened(), HELD, NOW)
    incident, effects = decide(incident, Resolved(), NOW + timedelta(minutes=10))
    assert incident.state == IncidentState.RESOLVED
    assert not [e for e in effects if isinstance(e, Notify)]
    late, nothing = decide(incident, TimerFired(TimerKind.SILENCE_END, 1), NOW + timedelta(hours=2))
    assert late == incident and nothing == []


def test_a_silenced_incident_ignores_acks_triggers_and_stale_timers() -> None:
    incident, _ = decide(opened(), HELD, NOW)
    for event in (Acked("alice"), Triggered(), Silenced("again", NOW)):
        after, effects = decide(incident, event, NOW)
        assert after == incident
        assert [e.kind for e in effects if isinstance(e, Record)] == ["ignored"]
    stale, nothing = decide(incident, TimerFired(TimerKind.SILENCE_END, 0), NOW + timedelta(hours=2))
    assert stale == incident and nothing == []


def test_a_silence_on_a_triggered_incident_changes_nothing() -> None:
    incident, _ = decide(opened(), Triggered(), NOW)
    after, effects = decide(incident, HELD, NOW)
    assert after.state == IncidentState.TRIGGERED
    assert [e.kind for e in effects if isinstance(e, Record)] == ["ignored"]
