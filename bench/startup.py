"""Start-up against closed history: the time a restarted service takes to be ready must not grow with
the incidents it closed long ago (issue 14: 2.2 s grew to 8.8 s over a few thousand incidents).

For each SIZE (closed incidents; default 0, 1,000, 10,000 and 50,000) a fresh database gets:

- the history, older than four days (tests/support/history.py, written in SQL): each closed incident
  with its two alarms, four timeline entries, a page and a status message sent (with the provider's
  message id), an expired reply code, and no timer (fired or cancelled timers are deleted). The
  incidents are spread over the people of TEAMS teams (as in bench/timer.py);
- OPEN incidents opened through the real ingest after it, each with its step-1 page queued and its
  ack timer pending.

Then, on that database:

1. In process, with every statement timed (a ``before/after_cursor_execute`` listener on every
   engine): ``bootstrap.load`` + ``bootstrap.application`` + ``Engine.start()``, the first round of
   both engine loops, and one ``/readyz`` through the ASGI app. A first start sends the queued pages;
   then REPEAT restarts are measured (medians): ``inprocess_ready_s``, and their statements: how many,
   their total time (``statements_ms``) and the slowest one other than transaction control (times
   are wall-clock, the loops' threads running beside: a few milliseconds of noise), and their work
   (``statements_work``: each distinct statement replayed in a transaction rolled back,
   tests/support/statements.py: SQLite VM instructions or PostgreSQL rows visited), which the load
   of the machine does not change.
2. ``memoguard serve`` in a subprocess, REPEAT times: seconds from ``Popen`` (interpreter, imports,
   configuration, schema check, engine start) until ``/readyz`` answers 200 (``serve_ready_s``, the
   median; polled every 50 ms through one client, as bench/restart.py does).

A warm-up start on a throwaway database comes first, so that the first size does not pay for cold
imports and caches alone.

The figures ``*_slowdown`` compare the largest size with the smallest: near 1 when start-up does not
depend on history. The target (below 1.5) is on the work: on a shared machine the times of one start
vary by more than history could add.

    .venv/bin/python bench/startup.py [--sizes 0,1000,10000,50000] [--open 20] [--teams 10]
                                      [--repeat 3] [--database URL] [--out PATH]

With --database, give an empty database: the tables are dropped and made again between sizes.
Prints the figures and saves them to bench/results/startup.json.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import arguments, database_kind, finish, header, scratch
from bench.restart import launch
from bench.timer import configure, empty, engine_of, quiet
from memoguard import bootstrap
from memoguard.adapters.storage.table import METADATA
from memoguard.engine.runtime import Engine
from memoguard.http.app import create_app
from memoguard.services.record import Alarm, AlarmStatus
from tests.e2e.service import Service
from tests.support.history import add_closed
from tests.support.statements import captured, distinct, work

TARGET = 1.5  # largest size against smallest
PEOPLE_PER_TEAM = 2


@contextmanager
def timed() -> Iterator[list[tuple[float, str]]]:
    """(seconds, statement) of every statement any engine runs meanwhile."""
    spent: list[tuple[float, str]] = []

    def before(conn: Any, _cursor: Any, _sql: str, _params: Any, _context: Any, _many: bool) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, sql: str, _params: Any, _context: Any, _many: bool) -> None:
        spent.append((time.perf_counter() - conn.info["bench_started"].pop(), " ".join(sql.split())))

    sa.event.listen(sa.Engine, "before_cursor_execute", before)
    sa.event.listen(sa.Engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", before)
        sa.event.remove(sa.Engine, "after_cursor_execute", after)


def build(config_dir: Path, size: int, opened: int, teams: int) -> None:
    """History of ``size`` closed incidents, then ``opened`` open ones through the ingest."""
    app = bootstrap.application(bootstrap.load(config_dir), bootstrap.clock())
    try:
        db = engine_of(app)
        now = datetime.now(UTC)
        # add_closed copies the policy of an incident already there: one through the ingest, resolved,
        # and dated with the rest of the history (its resolve is not "lately").
        first = Alarm("scripts", "first", AlarmStatus.FIRING, "critical", "first", labels={"team": "t0"})
        [receipt] = app.ingest.receive([first])
        app.ingest.receive(
            [Alarm("scripts", "first", AlarmStatus.RESOLVED, "critical", "first", labels={"team": "t0"})]
        )
        incident = METADATA.tables["incident"]
        long_ago = now - timedelta(days=30)
        with db.begin() as c:
            c.execute(
                sa.update(incident)
                .where(incident.c.id == int(receipt.incident or 0))
                .values(opened_at=long_ago, updated_at=long_ago, resolved_at=long_ago)
            )
        people = [(f"p{i}", f"+3361{i:07d}") for i in range(PEOPLE_PER_TEAM * teams)]
        if size:
            add_closed(db, size, now, people)
        alarms = [
            Alarm("scripts", f"open-{i}", AlarmStatus.FIRING, "critical", f"open {i}", labels={"team": f"t{i % teams}"})
            for i in range(opened)
        ]
        app.ingest.receive(alarms)
    finally:
        app.store.close()


async def _readyz(api: Any) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://memoguard") as client:
        return (await client.get("/readyz")).status_code


def in_process(config_dir: Path, log: Path) -> dict[str, Any]:
    """Start as serve does, up to a 200 from /readyz; the time and the statements."""
    with quiet(log), timed() as spent, captured() as sent:
        began = time.monotonic()
        app = bootstrap.application(bootstrap.load(config_dir), bootstrap.clock())
        engine = Engine(app)
        engine.start()
        try:
            while min(engine.timers.last_beat, engine.dispatcher.last_beat) <= began:
                time.sleep(0.005)
            status = asyncio.run(_readyz(create_app(app, lambda: engine.alive)))
            ready = time.monotonic() - began
        finally:
            engine.stop()
            app.store.close()
    if status != 200:
        raise RuntimeError(f"/readyz answered {status}")
    db = sa.create_engine(bootstrap.load(config_dir).database_url)
    try:
        done = sum(work(db, statement) for statement in distinct(sent))
    finally:
        db.dispose()
    # Transaction control waits for locks rather than works: the slowest statement is another one.
    slowest = max((x for x in spent if not x[1].upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))), default=(0.0, ""))
    return {
        "ready": ready,
        "count": len(spent),
        "ms": 1000 * sum(seconds for seconds, _ in spent),
        "slowest_ms": 1000 * slowest[0],
        "work": done,
        "slowest": slowest[1][:160],
    }


def serve_ready(config_dir: Path, repeat: int, timeout: float) -> float:
    times = []
    for _ in range(repeat):
        service = Service(config_dir)
        try:
            began = time.monotonic()
            launch(service, timeout)
            times.append(time.monotonic() - began)
        finally:
            service.stop()
    return statistics.median(times)


def wipe(url: str) -> None:
    """Drop the tables this script made (PostgreSQL: the next size starts from an empty database)."""
    db = sa.create_engine(url)
    try:
        METADATA.drop_all(db)
        with db.begin() as c:
            c.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        db.dispose()


def run(args: Any) -> dict[str, Any]:
    result = header("startup", database=args.database)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    figures: dict[str, Any] = {}
    with scratch() as work:
        if args.database:
            probe = sa.create_engine(args.database)
            try:
                known = set(sa.inspect(probe).get_table_names())
                if known and ("incident" not in known or not empty(probe)):
                    raise SystemExit(f"{args.database} is not empty: give an empty database")
            finally:
                probe.dispose()
        # Warm-up on a throwaway SQLite file: imports, the file cache; every size is then measured alike.
        warm = configure(work / "config-warm", f"sqlite:///{work / 'warm.db'}", teams=args.teams, rate=0, steps=("1h",))
        build(warm, 0, args.open, args.teams)
        in_process(warm, work / "console-warm.log")
        serve_ready(warm, 1, args.timeout)
        for size in sizes:
            url = args.database or f"sqlite:///{work / f'bench-{size}.db'}"
            if args.database:
                wipe(url)
            config_dir = configure(work / f"config-{size}", url, teams=args.teams, rate=0, steps=("1h", "1h"))
            started = time.monotonic()
            build(config_dir, size, args.open, args.teams)
            prepared = time.monotonic() - started
            # In process first: the first start finds the open incidents' pages queued and sends them
            # (not counted); the restarts after it are measured.
            in_process(config_dir, work / f"console-{size}.log")
            runs = [in_process(config_dir, work / f"console-{size}.log") for _ in range(args.repeat)]
            inside = min(runs, key=lambda r: r["ms"]) | {
                "ready": statistics.median(r["ready"] for r in runs),
                "ms": statistics.median(r["ms"] for r in runs),
                "work": statistics.median(r["work"] for r in runs),
            }
            ready = serve_ready(config_dir, args.repeat, args.timeout)
            figures[size] = {"serve": ready, **inside}
            line = f"{size:>7} closed: serve ready {ready:.3f} s, in process {inside['ready']:.3f} s, "
            line += f"{inside['count']} statements {inside['ms']:.1f} ms, work {inside['work']:.0f}"
            print(f"{line} (built in {prepared:.0f} s)", flush=True)
            if not args.database:
                db_file = work / f"bench-{size}.db"
                figures[size]["mb"] = round(db_file.stat().st_size / 1e6, 1)
        if args.database:
            wipe(args.database)
    low, high = figures[sizes[0]], figures[sizes[-1]]
    result |= {"sizes": sizes, "open_incidents": args.open, "teams": args.teams, "repeat": args.repeat}
    for size in sizes:
        f = figures[size]
        result[f"n{size}_serve_ready_s"] = round(f["serve"], 3)
        result[f"n{size}_inprocess_ready_s"] = round(f["ready"], 3)
        result[f"n{size}_statements"] = f["count"]
        result[f"n{size}_statements_ms"] = round(f["ms"], 1)
        result[f"n{size}_slowest_statement_ms"] = round(f["slowest_ms"], 2)
        result[f"n{size}_statements_work"] = round(f["work"])
        if "mb" in f:
            result[f"n{size}_sqlite_mb"] = f["mb"]
    result |= {
        "largest": sizes[-1],
        "largest_slowest_statement": high["slowest"],
        "serve_ready_slowdown": round(high["serve"] / low["serve"], 2),
        "statements_slowdown": round(high["ms"] / low["ms"], 2),
        "work_unit": "SQLite VM instructions" if database_kind(args.database) == "sqlite" else "rows visited",
        "statements_work_slowdown": round(high["work"] / low["work"], 2),
        "target_slowdown": TARGET,
        # On the work, which the machine's load does not change; the times are shown beside it.
        "target_met": high["work"] / low["work"] < TARGET,
    }
    return result


def main() -> None:
    parser = arguments(__doc__, "startup")
    parser.add_argument("--sizes", default="0,1000,10000,50000", help="closed incidents, comma-separated")
    parser.add_argument("--open", type=int, default=20, help="open incidents, opened after the history")
    parser.add_argument("--teams", type=int, default=10, help="teams (two people each) the incidents page")
    parser.add_argument("--repeat", type=int, default=3, help="serve start-ups per size (the median counts)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for /readyz")
    args = parser.parse_args()
    finish(run(args), args.out)


if __name__ == "__main__":
    main()
