"""The table of the latest saved figures against the targets of DESIGN.md §11 (the README shows it).

.venv/bin/python -m bench --table
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.common import RESULTS

Figures = dict[str, Any]
POSTGRESQL_ONLY = {"takeover", "ha"}  # several instances on one database: SQLite serves one process


@dataclass(frozen=True)
class Row:
    target: str
    script: str
    figure: Callable[[Figures], str]
    met: Callable[[Figures], bool] | None  # None: no numeric target


def _load(name: str) -> Figures | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _get(figures: Figures, key: str) -> Any:
    value = figures.get(key)
    if value is None:
        raise KeyError(key)
    return value


def _n(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def _startup(f: Figures) -> str:
    """bench/startup.py's figures for its smallest and largest history."""
    low, high = _get(f, "sizes")[0], _get(f, "largest")
    return (
        f"`serve` ready in {_get(f, f'n{low}_serve_ready_s')} s with {low:,} closed, "
        f"{_get(f, f'n{high}_serve_ready_s')} s with {high:,} (×{_get(f, 'serve_ready_slowdown')}); "
        f"start-up statements {_get(f, f'n{low}_statements_ms')} → {_get(f, f'n{high}_statements_ms')} ms, "
        f"their work ×{_get(f, 'statements_work_slowdown')}"
    )


def _cli(f: Figures) -> str:
    """bench/cli.py's figures, with those of a run on the code before issue 20 when it was given one."""
    text = "; ".join(
        f"`{name}` p50 {_get(f, f'{name}_p50_s')} s (p90 {_get(f, f'{name}_p90_s')}, CPU {_get(f, f'{name}_cpu_s')} s)"
        for name in ("ack", "incident", "oncall")
    )
    text += f"; `python -c pass` {_get(f, 'interpreter_p50_s')} s"
    if f.get("before_slowest_p50_s") is not None:
        text += f"; before issue 20: {f['before_slowest_p50_s']} s (CPU {f['before_ack_cpu_s']} s for `ack`)"
    return text


ROWS = [
    Row(
        "ingest, one alarm per request, 10 clients: ≥ 5,000 alarms/s",
        "ingest",
        lambda f: (
            f"{_n(_get(f, 'ten_clients_alarms_per_s'))}/s (1 client "
            f"{_n(_get(f, 'one_client_alarms_per_s'))}/s, "
            f"100 clients {_n(_get(f, 'hundred_clients_alarms_per_s'))}/s); "
            f"2xx p50 {_get(f, 'ten_clients_2xx_p50_ms')} ms, p99 {_get(f, 'ten_clients_2xx_p99_ms')} ms; "
            f"lost {_get(f, 'lost')}"
        ),
        lambda f: _get(f, "ten_clients_alarms_per_s") >= 5000 and _get(f, "lost") == 0,
    ),
    Row(
        "ingest, Alertmanager payloads of 100: ≥ 50,000 alarms/s",
        "ingest",
        lambda f: (
            f"{_n(_get(f, 'batched_ten_clients_alarms_per_s'))}/s; 2xx p99 "
            f"{_get(f, 'batched_ten_clients_2xx_p99_ms')} ms"
        ),
        lambda f: _get(f, "batched_ten_clients_alarms_per_s") >= 50000,
    ),
    Row(
        "alarm 2xx → page handed to the provider at 50/s: p99 ≤ 100 ms",
        "latency",
        lambda f: (
            f"p50 {_get(f, 'from_2xx_p50_ms')} ms, p99 {_get(f, 'from_2xx_p99_ms')} ms, "
            f"max {_get(f, 'from_2xx_max_ms')} ms; missing {_get(f, 'pages_missing')}"
        ),
        lambda f: _get(f, "from_2xx_p99_ms") <= 100 and _get(f, "pages_missing") == 0,
    ),
    Row(
        "timer lateness, 10,000 open incidents: p99 ≤ 100 ms",
        "timer",
        lambda f: (
            f"p50 {_get(f, 'committed_late_p50_ms')} ms, p99 {_get(f, 'committed_late_p99_ms')} ms, "
            f"max {_get(f, 'committed_late_max_ms')} ms ({_get(f, 'fired')} timers, missed {_get(f, 'missed')})"
        ),
        lambda f: _get(f, "committed_late_p99_ms") <= 100 and _get(f, "missed") == 0,
    ),
    Row(
        "restart: 10,000 overdue timers fired within 2 s of start-up",
        "restart",
        lambda f: (
            f"{_get(f, 'inprocess_start_to_all_fired_s')} s from Engine.start() "
            f"({_n(_get(f, 'inprocess_fired_per_s'))} timers/s); `memoguard serve`: "
            f"{_get(f, 'serve_start_to_all_fired_s')} s; left overdue {_get(f, 'inprocess_left_overdue')}"
        ),
        lambda f: _get(f, "inprocess_start_to_all_fired_s") <= 2,
    ),
    Row(
        "start-up with 50,000 closed incidents: no more work than with none (× < 1.5)",
        "startup",
        _startup,
        lambda f: bool(_get(f, "target_met")),
    ),
    Row(
        "`memoguard ack`/`incident`/`oncall` wall time ≤ 300 ms",
        "cli",
        _cli,
        lambda f: bool(_get(f, "target_met")),
    ),
    Row(
        "memory: ≤ 150 MB RSS with 10,000 open incidents",
        "memory",
        lambda f: (
            f"{_get(f, 'settled_rss_mb')} MB (idle {_get(f, 'idle_rss_mb')} MB, peak {_get(f, 'peak_rss_mb')} MB)"
        ),
        lambda f: _get(f, "settled_rss_mb") <= 150,
    ),
    Row(
        "storm: 10,000 alarms in a minute, 500 keys, one source",
        "storm",
        lambda f: (
            f"{_get(f, 'incidents_created')} incidents, {_get(f, 'alarms_stored')} alarms stored of "
            f"{_get(f, 'alarms_accepted')} accepted, "
            f"at most {_get(f, 'max_singles_to_one_person')} single pages per person "
            f"(bound {_get(f, 'storm_bound')}) and {_get(f, 'max_messages_to_one_person')} messages in all "
            f"with the bundles (nothing held back), peak RSS {_get(f, 'serve_peak_rss_mb')} MB"
        ),
        lambda f: (
            _get(f, "singles_bounded_by_storm_control") and _get(f, "alarms_stored") == _get(f, "alarms_accepted")
        ),
    ),
    Row(
        "roster look-ups: not linear in the roster's history",
        "roster",
        lambda f: (
            f"{_n(_get(f, 'domain_lookups_per_s'))}/s in the domain, {_n(_get(f, 'paging_lookups_per_s'))}/s "
            f"as a decision reads them; 10,000 past overrides: ×{_get(f, 'paging_slowdown_0_to_10000_year10')} slower"
        ),
        lambda f: _get(f, "domain_slowdown_0_to_10000_year10") < 2 and _get(f, "paging_slowdown_0_to_10000_year10") < 2,
    ),
    Row(
        "dispatcher: ≥ 98 % of the provider's rate, 0 throttling errors, 0 lost",
        "dispatch",
        lambda f: (
            f"{_get(f, 'share_of_rate_percent')} % of {_get(f, 'configured_rate_per_s')}/s, "
            f"{f.get('throttling_errors')} throttling errors, {f.get('lost')} lost"
        ),
        lambda f: _get(f, "share_of_rate_percent") >= 98 and f.get("throttling_errors") == 0 and f.get("lost") == 0,
    ),
    Row(
        "takeover: SIGKILL of one of two instances, p99 lateness of every page after it ≤ 2 s",
        "takeover",
        lambda f: (
            f"p50 {_get(f, 'after_kill_late_p50_ms')} ms, p99 {_get(f, 'after_kill_late_p99_ms')} ms, "
            f"max {_get(f, 'after_kill_late_max_ms')} ms ({_get(f, 'after_kill_late_count')} pages); "
            f"dead one's {_get(f, 'dead_claims_unsent_at_kill')} claims sent within "
            f"{_get(f, 'takeover_max_ms')} ms; duplicates {_get(f, 'duplicates')} "
            f"(in flight at the kill {_get(f, 'duplicates_in_flight')}), lost {_get(f, 'lost')}"
        ),
        lambda f: bool(f.get("target_met")),
    ),
    Row(
        "several instances: SIGKILL of one of two mid-escalation, every step paged, ≤ 1 duplicate",
        "ha",
        lambda f: (
            f"{_get(f, 'incidents')} incidents × 3 steps, {_get(f, 'pages')} pages, unpaged {_get(f, 'unpaged')}, "
            f"lost {_get(f, 'lost')}, duplicates {_get(f, 'duplicates')}; survivor's timer lateness after the "
            f"kill p50 {_get(f, 'timer_late_after_kill_p50_ms')} ms, p99 {_get(f, 'timer_late_after_kill_p99_ms')} "
            f"ms, max {_get(f, 'timer_late_after_kill_max_ms')} ms; took over in {_get(f, 'takeover_s')} s"
        ),
        lambda f: bool(f.get("target_met")),
    ),
    Row(
        "SMPP (no target of its own): alarm 2xx → submit_sm at 50/s",
        "smpp",
        lambda f: (
            f"p50 {_get(f, 'latency_p50_ms')} ms, p99 {_get(f, 'latency_p99_ms')} ms; provider alone "
            f"{_n(_get(f, 'provider_short_pages_per_s'))} pages/s"
        ),
        None,
    ),
    Row(
        "Twilio (no target of its own): alarm 2xx → Twilio API call at 50/s",
        "twilio",
        lambda f: (
            f"p50 {_get(f, 'latency_p50_ms')} ms, p99 {_get(f, 'latency_p99_ms')} ms "
            f"({_get(f, 'channel')}: the {'Calls' if f.get('channel') == 'voice' else 'Messages'} API); "
            f"lost {_get(f, 'lost')}"
        ),
        None,
    ),
]


def _cell(row: Row, figures: Figures | None) -> str:
    if figures is None:
        return "not run"
    try:
        text = row.figure(figures)
        verdict = "" if row.met is None else (" ✔" if row.met(figures) else " ✘")
    except KeyError as missing:
        return f"(no {missing.args[0]} in the results)"
    return text + verdict


def table() -> str:
    lines = [
        "| target | SQLite | PostgreSQL | script |",
        "|---|---|---|---|",
    ]
    machines = set()
    for row in ROWS:
        sqlite, postgres = _load(row.script), _load(f"{row.script}-postgresql")
        for figures in (sqlite, postgres):
            if figures is not None:
                machines.add(str(figures.get("machine")))
        pg = "—" if row.script == "roster" else _cell(row, postgres)
        lite = "—" if row.script in POSTGRESQL_ONLY else _cell(row, sqlite)
        lines.append(f"| {row.target} | {lite} | {pg} | `bench/{row.script}.py` |")
    lines.append("")
    lines.append("✔ target met, ✘ missed. Machine: " + "; ".join(sorted(machines)))
    return "\n".join(lines)
