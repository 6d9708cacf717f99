"""Where the time goes, without HTTP: the CPU cost per alarm of the ingest path, and a cProfile of it,
for an alarm that opens an incident and for one that attaches to an open incident; and the same per
fired timer, for overdue escalation steps that page the next person (what a restart works through).

Alarms go through ``Ingest.write_group`` in groups of 10 one-alarm requests, as the ingest writer thread
takes them under 10 concurrent clients, on a fresh SQLite file (or ``--database``), with the configuration
of bench/ingest.py. (Not named profile.py: run as a script, it would shadow the standard library's
``profile``, which cProfile imports.)

    .venv/bin/python bench/hotspot.py [--database URL]

Saves the figures to bench/results/hotspot.json and the profiles to bench/results/hotspot-<path>.txt.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, arguments, finish, header, scratch
from bench.ingest import configure
from bench.restart import overdue
from bench.timer import configure as timer_configure
from bench.timer import engine_of, populate
from memoguard import bootstrap
from memoguard.services.application import Application
from memoguard.services.record import Alarm, AlarmStatus

GROUP = 10
ALARMS = 1000
TIMERS = 2000


def _alarms(prefix: str, keys: int) -> list[Alarm]:
    status = AlarmStatus.FIRING
    return [Alarm("scripts", f"{prefix}-{i % keys}", status, "warning", f"alarm {i}") for i in range(ALARMS)]


def _save(profiler: cProfile.Profile, path: Path) -> None:
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
    path.write_text(text.getvalue(), encoding="utf-8")


def _measure(app: Application, alarms: list[Alarm], name: str, profile: Path) -> dict[str, Any]:
    profiler = cProfile.Profile()
    cpu = time.thread_time()
    wall = time.perf_counter()
    profiler.enable()
    for start in range(0, len(alarms), GROUP):
        app.ingest.write_group([[alarm] for alarm in alarms[start : start + GROUP]])
    profiler.disable()
    wall = time.perf_counter() - wall
    cpu = time.thread_time() - cpu
    _save(profiler, profile)
    return {
        f"{name}_alarms": len(alarms),
        # cProfile slows Python code down; the unprofiled figures come from a second run below.
        f"{name}_profiled_cpu_us_per_alarm": round(1e6 * cpu / len(alarms)),
        f"{name}_profiled_wall_us_per_alarm": round(1e6 * wall / len(alarms)),
    }


def _plain(app: Application, alarms: list[Alarm], name: str) -> dict[str, Any]:
    cpu = time.thread_time()
    wall = time.perf_counter()
    for start in range(0, len(alarms), GROUP):
        app.ingest.write_group([[alarm] for alarm in alarms[start : start + GROUP]])
    return {
        f"{name}_cpu_us_per_alarm": round(1e6 * (time.thread_time() - cpu) / len(alarms)),
        f"{name}_wall_us_per_alarm": round(1e6 * (time.perf_counter() - wall) / len(alarms)),
    }


def _fire(work: Path, database: str, profile: Path) -> dict[str, Any]:
    """Fire ``TIMERS`` overdue step timers in the timer loop's batches, under cProfile (the restart
    benchmark's configuration: 100 teams, steps of 1m, 1m and 1h)."""
    url = database or f"sqlite:///{work / 'fire.db'}"
    config = timer_configure(work / "fire", url, teams=100, rate=100, steps=("1m", "1m", "1h"))
    app = bootstrap.application(bootstrap.load(config), bootstrap.clock())
    try:
        populate(app, TIMERS, 500, 100)
        overdue(engine_of(app), TIMERS)
        profiler = cProfile.Profile()
        cpu = time.thread_time()
        profiler.enable()
        fired = app.timers.fire_all_due()
        profiler.disable()
        cpu = time.thread_time() - cpu
    finally:
        app.store.close()
    _save(profiler, profile)
    return {"fire_timers": fired, "fire_profiled_cpu_us_per_timer": round(1e6 * cpu / max(1, fired))}


def run(database: str | None) -> dict[str, Any]:
    result = header("hotspot", database=database)
    suffix = "" if database is None else f"-{result['database']}"  # the SQLite profiles stay the README's
    profiles = {name: RESULTS / f"hotspot-{name}{suffix}.txt" for name in ("open", "attach", "fire")}
    with scratch() as work:
        config = configure(work, database or f"sqlite:///{work / 'bench.db'}")
        app = bootstrap.application(bootstrap.load(config), bootstrap.clock())
        try:
            result |= _plain(app, _alarms("open", ALARMS), "open")
            result |= _measure(app, _alarms("open-profiled", ALARMS), "open", profiles["open"])
            app.ingest.receive(_alarms("attach", 100)[:100])  # 100 open incidents to attach to
            result |= _plain(app, _alarms("attach", 100), "attach")
            result |= _measure(app, _alarms("attach", 100), "attach", profiles["attach"])
        finally:
            app.store.close()
        result |= _fire(work, database or "", profiles["fire"])
    result["profiles"] = ", ".join(str(path.relative_to(RESULTS.parents[1])) for path in profiles.values())
    return result


def main() -> None:
    args = arguments(__doc__, "hotspot").parse_args()
    finish(run(args.database), args.out)


if __name__ == "__main__":
    main()
