"""Restart: how long until 10,000 overdue timers have all fired (DESIGN.md §11: within 2 s of start-up).

The database: INCIDENTS open incidents spread over TEAMS teams (rosters of three, three-step policies,
as in bench/timer.py: SEED of them through the real ingest, the others copied from those in SQL), each
with one ACK_TIMEOUT timer, all made overdue: due between a minute and a second before the restart,
as after an outage. Nothing else is due; the 10,000 step-1 pages of the incidents are still queued.

1. In process: a fresh ``bootstrap.load`` + ``bootstrap.application`` (real ``SystemClock``, cold
   caches), then ``Engine(app).start()``, which fires everything overdue (in due order) before it
   starts the loops. ``inprocess_start_to_all_fired_s`` is ``Engine.start()`` alone;
   ``inprocess_load_to_all_fired_s`` adds loading the configuration and building the application.
   Each is checked in the database: no timer left due before the restart, one ``ack_timeout`` timeline
   entry per incident.
2. ``memoguard serve`` in a subprocess (tests/e2e/service.py), the honest start-up: the same
   incidents' step-2 timers are made overdue the same way, then the clock runs from ``Popen`` (the
   interpreter's start, imports, configuration, schema check included) until a separate connection,
   polling every 20 ms, sees no timer left due before the restart (``serve_start_to_all_fired_s``,
   an upper bound within the polling interval), and until ``/readyz`` answers 200 (``serve_ready_s``).
   For scale, ``serve_ready_nothing_due_s`` is the same start-up, before the incidents exist.

While it fires, the dispatcher starts sending the queued pages at the console provider's RATE/s.

    .venv/bin/python bench/restart.py [--incidents 10000] [--teams 100] [--seed 500] [--rate 100]
                                      [--database URL] [--out PATH]

With --database, give an empty database. Prints the figures and saves them to
bench/results/restart.json. Target: all 10,000 fired within 2 s of start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Poller, arguments, finish, header, scratch
from bench.timer import configure, empty, engine_of, populate, quiet, set_dues
from memoguard import bootstrap
from memoguard.adapters.storage.table import METADATA
from memoguard.engine.runtime import Engine
from tests.e2e.service import Service

POLL = 0.02
TARGET = 2.0


def overdue(engine: sa.Engine, incidents: int) -> datetime:
    """Make every pending timer due between a minute and a second ago, in incident order; returns
    the instant before which they are all due."""
    now = datetime.now(UTC)
    spread = 59.0 / max(1, incidents)
    set_dues(engine, lambda n: now - timedelta(seconds=60 - n * spread))
    return now - timedelta(seconds=1) + timedelta(microseconds=1)


def remaining(engine: sa.Engine, cutoff: datetime) -> int:
    timer = METADATA.tables["timer"]
    with engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(timer).where(timer.c.due_at < cutoff)).scalar_one())


def fired_entries(engine: sa.Engine) -> int:
    timeline = METADATA.tables["timeline"]
    with engine.connect() as c:
        query = sa.select(sa.func.count()).select_from(timeline).where(timeline.c.kind == "ack_timeout")
        return int(c.execute(query).scalar_one())


def in_process(config_dir: Path, log: Path) -> dict[str, float]:
    """Load, build and start a fresh application and engine; the engine fires everything overdue first."""
    with quiet(log):
        began = time.monotonic()
        app = bootstrap.application(bootstrap.load(config_dir), bootstrap.clock())
        engine = Engine(app)
        built = time.monotonic()
        engine.start()
        fired = time.monotonic()
        engine.stop()
        app.store.close()
    return {"build": built - began, "start": fired - built, "total": fired - began}


def launch(service: Service, timeout: float = 60.0) -> None:
    """``service.start()``, but polling ``/readyz`` through one client: ``Service`` builds a new httpx
    client (and its TLS context) for each of its 20 polls a second, seconds of CPU taken from the two
    cores the service itself runs on."""
    with service.log.open("ab") as out:
        service.process = subprocess.Popen(
            [sys.executable, "-m", "memoguard", "--config", str(service.config), "serve", "--listen", service.url[7:]],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=service.url, timeout=1) as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"memoguard serve exited with {service.process.returncode}: see {service.log}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"memoguard serve not ready after {timeout}s: see {service.log}")


def serve(config_dir: Path, url: str, cutoff: datetime | None, timeout: float) -> dict[str, Any]:
    """Start ``memoguard serve``; seconds from Popen until nothing is due before ``cutoff`` (None: no
    such wait), and until ready."""
    service = Service(config_dir)
    try:
        # Polls, from its own connection, until no timer is left due before ``cutoff``.
        with Poller(url, lambda db: cutoff is not None and remaining(db, cutoff) == 0, POLL, "until") as until:
            popen = time.monotonic()
            launch(service, timeout)  # returns once /readyz answers 200
            ready = time.monotonic()
            if cutoff is not None:
                until.wait(timeout)
    finally:
        service.stop()
    log = service.log.read_text(encoding="utf-8", errors="replace")
    reported = [line for line in log.splitlines() if "overdue timer" in line]
    return {
        "fired": None if until.done_at is None else until.done_at - popen,
        "ready": ready - popen,
        "log": reported[-1].split(": ", 1)[-1] if reported else None,
    }


def run(args: Any) -> dict[str, Any]:
    result = header("restart", database=args.database)
    with scratch() as work:
        url = args.database or f"sqlite:///{work / 'bench.db'}"
        config_dir = configure(work / "config", url, teams=args.teams, rate=args.rate, steps=("1m", "1m", "1h"))
        app = bootstrap.application(bootstrap.load(config_dir), bootstrap.clock())
        if not empty(engine_of(app)):
            app.store.close()
            raise SystemExit(f"{args.database} already holds incidents: give an empty database")
        app.store.close()
        # The floor: memoguard serve's start-up with nothing to fire (interpreter, imports, configuration).
        floor = serve(config_dir, url, None, args.timeout)["ready"]
        app = bootstrap.application(bootstrap.load(config_dir), bootstrap.clock())
        started = time.monotonic()
        populate(app, args.incidents, args.seed, args.teams)
        app.store.close()
        check = sa.create_engine(url)
        try:
            # 1. In process: the step-1 timers, overdue.
            cutoff = overdue(check, args.incidents)
            prepared = time.monotonic() - started
            due = remaining(check, cutoff)
            inside = in_process(config_dir, work / "console.log")
            left = remaining(check, cutoff)
            entries = fired_entries(check)
            # 2. memoguard serve: the step-2 timers, made overdue the same way.
            cutoff = overdue(check, args.incidents)
            serve_due = remaining(check, cutoff)
            outside = serve(config_dir, url, cutoff, args.timeout)
            serve_left = remaining(check, cutoff)
            serve_entries = fired_entries(check) - entries
        finally:
            check.dispose()
    result |= {
        "incidents": args.incidents,
        "teams": args.teams,
        "ingested": max(1, min(args.seed, args.incidents)),
        "prepare_seconds": round(prepared, 1),
        "provider_rate_per_s": args.rate,
        "inprocess_overdue_timers": due,
        "inprocess_build_app_s": round(inside["build"], 3),
        "inprocess_start_to_all_fired_s": round(inside["start"], 3),
        "inprocess_load_to_all_fired_s": round(inside["total"], 3),
        "inprocess_fired_per_s": round(due / inside["start"], 1),
        "inprocess_left_overdue": left,
        "inprocess_ack_timeout_entries": entries,
        "serve_ready_nothing_due_s": round(floor, 3),
        "serve_overdue_timers": serve_due,
        "serve_start_to_all_fired_s": None if outside["fired"] is None else round(outside["fired"], 3),
        "serve_ready_s": round(outside["ready"], 3),
        "serve_left_overdue": serve_left,
        "serve_ack_timeout_entries": serve_entries,
        "serve_log": outside["log"],
        "target_s": TARGET,
        "target_met_inprocess": left == 0 and inside["start"] <= TARGET,
        "target_met_serve": serve_left == 0 and outside["fired"] is not None and outside["fired"] <= TARGET,
    }
    return result


def main() -> None:
    parser = arguments(__doc__, "restart")
    parser.add_argument("--incidents", type=int, default=10_000, help="open incidents, each with an overdue timer")
    parser.add_argument("--teams", type=int, default=100, help="teams the incidents are spread over")
    parser.add_argument("--seed", type=int, default=500, help="incidents created through the ingest")
    parser.add_argument("--rate", type=int, default=100, help="the console provider's rate limit, pages/s")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for serve to fire them all")
    args = parser.parse_args()
    finish(run(args), args.out)


if __name__ == "__main__":
    main()
