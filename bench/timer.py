"""Escalation timer lateness with 10,000 open incidents (DESIGN.md §11: p99 <= 100 ms).

The population: INCIDENTS open incidents, each paged at step 1 and waiting on its ACK_TIMEOUT timer,
spread over TEAMS teams (a roster of two people and a two-step policy per team, routed by a ``team``
label): an organisation of many teams rather than one person paged 10,000 times (``--teams 1``; each
page then also allocates a reply code among the 10,000 that number holds). SEED incidents go through
the real ingest (``app.ingest.receive``, 100 alarms per transaction); the rest are copies of them
made in SQL (every row that an incident has: incident, alarm, timeline, timer, outbox, reply code;
each copy with its own id, dedup key and reply code), because ingesting 10,000 alarms would take much
of this benchmark's budget. ``--seed`` equal to ``--incidents`` ingests them all. On PostgreSQL the
tables are then vacuumed and analysed, as autovacuum would have done.

The measure: FIRING of the timers get due times spread evenly over WINDOW seconds, starting LEAD
seconds after the real ``Engine`` starts (real ``SystemClock``, ``bootstrap.application``); the others
are due in an hour and only sit there. Each fired timer writes its ``ack_timeout`` timeline entry with
the clock's time the firing batch was decided at; the lateness is that time minus the timer's due
time, read from the database after the run (``decision_late_*``). ``committed_late_*`` is when a
separate connection polling every 20 ms first saw the entry committed, minus the due time: what
someone watching the database sees (upper bound, within the polling interval).

A timer still pending when the wait ends (WINDOW + TIMEOUT seconds after the first due) counts as late
by at least (end - due): then ``missed`` > 0 and the figures are lower bounds. ``fired_per_s`` (first
to last firing) is the loop's throughput when it falls behind.

The load alongside: the dispatcher sends the 10,000 step-1 pages queued at creation, then the step-2
pages the firing queues, to the console provider (output discarded) at RATE pages/s, its configured
rate limit (storm control off): a provider working at a realistic full rate throughout, each page's
outcome a commit. Nothing else (no HTTP, no ingest) runs during the measurement.

    .venv/bin/python bench/timer.py [--incidents 10000] [--firing 10000] [--window 15] [--teams 100]
                                    [--rate 100] [--seed 500] [--database URL] [--out PATH]

Prints the figures and saves them to bench/results/timer.json. Target: p99 lateness <= 100 ms.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Poller, arguments, distribution, finish, header, scratch
from memoguard import bootstrap
from memoguard.adapters.storage.table import METADATA
from memoguard.engine.runtime import Engine
from memoguard.services.application import Application
from memoguard.services.record import Alarm, AlarmStatus

TOKEN = "bench-scripts"
PROMETHEUS_TOKEN = "bench-prometheus"
CHUNK = 100  # alarms per ingest transaction (one Alertmanager payload's worth)
POLL = 0.02  # seconds between two looks at the committed timeline


# --- configuration ------------------------------------------------------------------------------------


def configure(directory: Path, database: str, *, teams: int, rate: int, steps: Sequence[str]) -> Path:
    """A configuration of ``teams`` teams of ``len(steps)`` people each: roster and policy ``t<k>`` per
    team, step i paging the roster's i-th level (the primary, then the next members of the rotation) for
    ``steps[i]``, routed by the alarm label ``team: t<k>``; the sms channel on the console provider
    limited to ``rate``/s (0: no limit); storm control off. Returns ``directory``."""
    (directory / "rosters").mkdir(parents=True)
    (directory / "escalation_policies").mkdir()
    (directory / "secrets").mkdir()
    (directory / "secrets" / "scripts.token").write_text(TOKEN + "\n", encoding="utf-8")
    (directory / "secrets" / "prometheus.token").write_text(PROMETHEUS_TOKEN + "\n", encoding="utf-8")
    size = len(steps)
    people = "".join(f"  p{i}: {{phone: '+3361{i:07d}', language: en, channels: [sms]}}\n" for i in range(size * teams))
    routes = "".join(f"  - {{match: {{labels: {{team: t{k}}}}}, policy: t{k}}}\n" for k in range(teams))
    limit = f", rate: ['{rate}/s']" if rate else ""
    main = (
        f"database: {database}\ntimezone: UTC\npeople:\n{people}"
        "sources:\n  scripts: {kind: generic, token_file: secrets/scripts.token}\n"
        "  prometheus: {kind: alertmanager, token_file: secrets/prometheus.token}\n"
        f"routes:\n{routes}channels:\n  sms: [console]\n"
        f"providers:\n  console: {{kind: console{limit}}}\nstorm: {{pages: 0}}\n"
    )
    (directory / "memoguard.yaml").write_text(main, encoding="utf-8")
    levels = "".join(f"  l{i}: {{offset: {i}}}\n" for i in range(1, size))
    for k in range(teams):
        members = ", ".join(f"p{size * k + i}" for i in range(size))
        roster = (
            f"name: t{k}\nlayers:\n  - {{name: week, members: [{members}], shift: 1w,"
            " handoff: 'mon 09:00', start: 2026-01-05}\n" + (f"levels:\n{levels}" if levels else "")
        )
        policy = f"name: t{k}\nsteps:\n" + "".join(
            f"  - {{notify: ['roster:t{k}{f'/l{i}' if i else ''}'], channels: [sms], ack_within: {within}}}\n"
            for i, within in enumerate(steps)
        )
        (directory / "rosters" / f"t{k}.yaml").write_text(roster, encoding="utf-8")
        (directory / "escalation_policies" / f"t{k}.yaml").write_text(policy, encoding="utf-8")
    return directory


# --- population ---------------------------------------------------------------------------------------


def populate(app: Application, incidents: int, seed: int, teams: int) -> float:
    """Open ``incidents`` incidents: ``seed`` through the ingest, the rest copied from them in SQL.
    Returns the seconds the ingest took per incident (its real cost on this database)."""
    seed = max(1, min(seed, incidents))
    started = time.monotonic()
    for first in range(0, seed, CHUNK):
        alarms = [
            Alarm(
                "scripts",
                f"bench-{i}",
                AlarmStatus.FIRING,
                "critical",
                f"Disk full on db{i}",
                labels={"team": f"t{i % teams}"},
            )
            for i in range(first, min(seed, first + CHUNK))
        ]
        app.ingest.receive(alarms)
    per_incident = (time.monotonic() - started) / seed
    if incidents > seed:
        replicate(engine_of(app), incidents)
    settle(engine_of(app))
    return per_incident


def empty(engine: sa.Engine) -> bool:
    incident = METADATA.tables["incident"]
    with engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(incident)).scalar_one() == 0


def settle(engine: sa.Engine) -> None:
    """On PostgreSQL, VACUUM ANALYZE the freshly filled tables: what autovacuum would have done long
    before in a database that grew to this size, and would otherwise start during the measurement."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE"))


def engine_of(app: Application) -> sa.Engine:
    engine: sa.Engine = app.store.engine  # type: ignore[attr-defined]  # SqlStore
    return engine


def replicate(engine: sa.Engine, total: int) -> None:
    """Copy the incidents in the database (with every row naming them) until there are ``total``."""
    incident = METADATA.tables["incident"]
    children = [t for t in METADATA.sorted_tables if "incident_id" in t.c]
    with engine.begin() as c:
        seeds = [dict(r._mapping) for r in c.execute(sa.select(incident).order_by(incident.c.id))]
        rows = {t.name: [dict(r._mapping) for r in c.execute(sa.select(t))] for t in children}
        span = max(r["id"] for r in seeds)
        code_span = max((r["code"] for r in rows.get("reply_code", [])), default=0)
        made = len(seeds)
        copy = 0
        while made < total:
            copy += 1
            chosen = seeds[: total - made]
            keep = {r["id"] for r in chosen}
            shift = copy * span
            c.execute(
                sa.insert(incident),
                [r | {"id": r["id"] + shift, "dedup_key": f"{r['dedup_key']}~{copy}"} for r in chosen],
            )
            for table in children:
                copies = []
                for r in rows[table.name]:
                    if r["incident_id"] not in keep:
                        continue
                    new = {k: v for k, v in r.items() if k != "id"} | {"incident_id": r["incident_id"] + shift}
                    if "dedup_key" in new:
                        new["dedup_key"] = f"{new['dedup_key']}~{copy}"
                    if table.name == "reply_code":
                        new["code"] = r["code"] + copy * code_span
                    copies.append(new)
                if copies:
                    c.execute(sa.insert(table), copies)
            made += len(chosen)
        if engine.dialect.name == "postgresql":
            sequence = "SELECT setval(pg_get_serial_sequence('incident', 'id'), (SELECT max(id) FROM incident))"
            c.execute(sa.text(sequence))


def set_dues(engine: sa.Engine, due: Callable[[int], datetime]) -> dict[int, datetime]:
    """Give the n-th pending timer (in incident order) the due time ``due(n)``; incident id -> due time."""
    timer = METADATA.tables["timer"]
    with engine.begin() as c:
        rows = c.execute(sa.select(timer.c.id, timer.c.incident_id).order_by(timer.c.incident_id)).all()
        values = [{"tid": r.id, "due": due(n)} for n, r in enumerate(rows)]
        statement = sa.update(timer).where(timer.c.id == sa.bindparam("tid")).values(due_at=sa.bindparam("due"))
        c.execute(statement, values)
    return {r.incident_id: v["due"] for r, v in zip(rows, values, strict=True)}


def counts(engine: sa.Engine) -> dict[str, int]:
    incident, timer = METADATA.tables["incident"], METADATA.tables["timer"]
    with engine.connect() as c:
        return {
            "open_incidents": c.execute(
                sa.select(sa.func.count()).select_from(incident).where(incident.c.state != "resolved")
            ).scalar_one(),
            "pending_timers": c.execute(sa.select(sa.func.count()).select_from(timer)).scalar_one(),
        }


# --- watching -----------------------------------------------------------------------------------------


class Watcher:
    """Notes the wall-clock time each ``kind`` timeline entry was first seen committed (``seen``), by a
    ``Poller`` on its own connection."""

    def __init__(self, url: str, kind: str) -> None:
        self._kind = kind
        self._last = 0
        self.seen: dict[int, datetime] = {}
        self._poller = Poller(url, self._look, POLL, "watcher")

    def __enter__(self) -> Watcher:
        self._poller.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._poller.__exit__(*exc)

    def _look(self, engine: sa.Engine) -> bool:
        timeline = METADATA.tables["timeline"]
        query = sa.select(timeline.c.id, timeline.c.incident_id).where(
            timeline.c.kind == self._kind, timeline.c.id > self._last
        )
        with engine.connect() as c:
            rows = c.execute(query.order_by(timeline.c.id)).all()
        now = datetime.now(UTC)
        for r in rows:
            self.seen.setdefault(r.incident_id, now)
            self._last = max(self._last, r.id)
        return False  # watches until the block ends


def fired_at(engine: sa.Engine, kind: str) -> dict[int, datetime]:
    """Incident id -> the ``at`` of its first ``kind`` timeline entry (the clock's time at the decision)."""
    timeline = METADATA.tables["timeline"]
    with engine.connect() as c:
        rows = c.execute(
            sa.select(timeline.c.incident_id, timeline.c.at).where(timeline.c.kind == kind).order_by(timeline.c.id)
        ).all()
    found: dict[int, datetime] = {}
    for r in rows:
        at = r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)
        found.setdefault(r.incident_id, at)
    return found


@contextlib.contextmanager
def quiet(log: Path) -> Iterator[None]:
    """The console provider prints every page on stderr: send that to a file for the run."""
    with log.open("w", encoding="utf-8") as out, contextlib.redirect_stderr(out):
        yield


# --- the run ------------------------------------------------------------------------------------------


def run(args: Any) -> dict[str, Any]:
    result = header("timer", database=args.database)
    firing = min(args.firing, args.incidents)
    with scratch() as work:
        url = args.database or f"sqlite:///{work / 'bench.db'}"
        config = configure(work / "config", url, teams=args.teams, rate=args.rate, steps=("1h", "1h"))
        app = bootstrap.application(bootstrap.load(config), bootstrap.clock())
        db = engine_of(app)
        if not empty(db):
            app.store.close()
            raise SystemExit(f"{args.database} already holds incidents: give an empty database")
        try:
            started = time.monotonic()
            per_incident = populate(app, args.incidents, args.seed, args.teams)
            prepared = time.monotonic() - started
            # Due times: `firing` of them evenly over the window from LEAD seconds after now, the rest in
            # an hour. Timers are numbered in incident order, so firing ones are spread over the teams.
            start = datetime.now(UTC) + timedelta(seconds=args.lead)
            step = args.window / firing
            slots = {round(j * args.incidents / firing): j for j in range(firing)}

            def due(n: int) -> datetime:
                return start + (timedelta(seconds=step * slots[n]) if n in slots else timedelta(hours=1))

            dues = set_dues(db, due)
            watched = {i: d for i, d in dues.items() if d < start + timedelta(hours=1)}
            before = counts(db)
            engine = Engine(app)
            with quiet(work / "console.log"), Watcher(url, "ack_timeout") as watcher:
                engine.start()
                deadline = time.monotonic() + args.lead + args.window + args.timeout
                while time.monotonic() < deadline and not all(i in watcher.seen for i in watched):
                    time.sleep(0.1)
                ran = time.monotonic()
                engine.stop()
                stopped = time.monotonic() - ran
            fired = fired_at(db, "ack_timeout")
            seen = dict(watcher.seen)
            # A timer still waiting at the end is at least (end - due) late: counted so, the figures
            # are then lower bounds (``missed`` > 0).
            end = datetime.now(UTC) - timedelta(seconds=time.monotonic() - ran)
            decided = [((fired.get(i) or end) - d).total_seconds() for i, d in watched.items()]
            committed = [((seen.get(i) or end) - d).total_seconds() for i, d in watched.items()]
            missed = sum(1 for i in watched if i not in fired)
            early = sum(1 for i in fired if i not in watched)
            moments = sorted(fired[i] for i in watched if i in fired)
            span = (moments[-1] - moments[0]).total_seconds() if len(moments) > 1 else 0.0
            notification = METADATA.tables["notification"]
            with db.connect() as c:
                sent = c.execute(
                    sa.select(sa.func.count()).select_from(notification).where(notification.c.status == "sent")
                ).scalar_one()
        finally:
            app.store.close()
        result |= {
            "incidents": args.incidents,
            "open_incidents": before["open_incidents"],
            "pending_timers": before["pending_timers"],
            "teams": args.teams,
            "ingested": max(1, min(args.seed, args.incidents)),
            "ingest_ms_per_incident": round(1000 * per_incident, 2),
            "prepare_seconds": round(prepared, 1),
            "firing_timers": len(watched),
            "window_seconds": args.window,
            "provider_rate_per_s": args.rate,
            "fired": len(watched) - missed,
            "missed": missed,
            "fired_early": early,
            "lateness_is_lower_bound": missed > 0,
            # First to last firing: the loop's throughput when it is behind, the due rate when it is not.
            "fired_per_s": round((len(moments) - 1) / span, 1) if span else None,
            **distribution("decision_late", decided),
            **distribution("committed_late", committed),
            "pages_sent_during_run": sent,
            "engine_stop_seconds": round(stopped, 2),
        }
        result["target_p99_ms"] = 100
        result["target_met"] = result["decision_late_p99_ms"] <= 100 and result["committed_late_p99_ms"] <= 100
    return result


def main() -> None:
    parser = arguments(__doc__, "timer")
    parser.add_argument("--incidents", type=int, default=10_000, help="open, escalating incidents")
    parser.add_argument("--firing", type=int, default=10_000, help="how many of their timers fall in the window")
    parser.add_argument("--window", type=float, default=15.0, help="seconds over which those timers are due")
    parser.add_argument("--lead", type=float, default=2.0, help="seconds from the engine's start to the first due")
    parser.add_argument("--teams", type=int, default=100, help="teams the incidents are spread over")
    parser.add_argument("--rate", type=int, default=100, help="the console provider's rate limit, pages/s")
    parser.add_argument("--seed", type=int, default=500, help="incidents created through the ingest")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait past the window")
    args = parser.parse_args()
    finish(run(args), args.out)


if __name__ == "__main__":
    main()
