"""Storm: 10,000 alarms in one minute from one source across 500 dedup keys.

A real ``memoguard serve`` (subprocess, tests/e2e/service.py) runs the end-to-end configuration
(tests/fixtures/e2e: roster ``ops`` of alice, bob and carol, policy ``fast``: the primary, 2 s later
the secondary, 8 s later dave) with storm control ON (``storm: {pages: PAGES, per: PER}``, the
defaults: at most 3 single pages per person and channel within 10 minutes; every page beyond goes
at once in a bundle with whatever else waits for that person then) and the
console provider appending every message to pages.jsonl. CLIENTS threads, each with its own httpx
client, POST ALARMS generic alarms (``/api/v1/alarms``, one per request, source ``scripts``) paced
evenly over SECONDS; the dedup keys go round 500 keys, so each key fires 20 times.

Figures: alarms sent, accepted (2xx) and in error; the 2xx latency distribution; incidents created
(500 expected); alarms stored in the database against alarms accepted (nothing lost); messages per
person in pages.jsonl (singles and bundles), singles against the storm bound (bundles are not held
back: their number follows the dispatch rounds and the provider's rate); pages per state in the outbox
(only a provider's rate limit or a retry keeps a page waiting); incidents a page reached
or still holds a queued page for; the serve process's peak RSS (VmHWM) and CPU time.

    .venv/bin/python bench/storm.py [--alarms 10000] [--keys 500] [--seconds 60] [--clients 4]
                                    [--pages 3] [--per 10m] [--database URL]
    .venv/bin/python -m bench.storm

Prints the figures and saves them to bench/results/storm.json. Targets: 500 incidents, every alarm
stored, every incident paged or its page queued, at most PAGES single pages per person and channel
(the run is shorter than PER), no page left pending, memory within DESIGN.md §11's 150 MB.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import arguments, distribution, finish, header, peak_rss_mb, rss_mb, scratch
from tests.e2e.service import Service, e2e_config

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}


def configure(work: Path, database: str, pages: int, per: str) -> Path:
    config = e2e_config(work, database)
    main = config / "memoguard.yaml"
    text_ = main.read_text(encoding="utf-8")
    if "storm: {pages: 0}\n" not in text_:
        raise RuntimeError("tests/fixtures/e2e/memoguard.yaml no longer turns storm control off as expected")
    main.write_text(text_.replace("storm: {pages: 0}\n", f"storm: {{pages: {pages}, per: {per}}}\n"), encoding="utf-8")
    return config


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def send(url: str, alarms: int, keys: int, seconds: float, clients: int, run: str) -> dict[str, Any]:
    """Alarm i goes at start + i * seconds / alarms (or at once when behind), by thread i % clients."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    started = time.monotonic() + 0.2

    def client(offset: int) -> None:
        mine: list[float] = []
        seen: Counter[str] = Counter()
        with httpx.Client(base_url=url, headers=SCRIPTS, timeout=30) as http:
            for i in range(offset, alarms, clients):
                pause = started + i * seconds / alarms - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                body = {"dedup_key": f"storm-{run}-{i % keys}", "severity": "critical", "summary": f"Storm {i % keys}"}
                before = time.monotonic()
                try:
                    answer = http.post("/api/v1/alarms", json=body)
                except httpx.HTTPError as error:
                    seen[type(error).__name__] += 1
                    continue
                if answer.is_success:
                    mine.append(time.monotonic() - before)
                seen[str(answer.status_code)] += 1
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    accepted = sum(count for status, count in statuses.items() if status.startswith("2"))
    return {
        "alarms_sent": alarms,
        "alarms_accepted": accepted,
        "alarm_errors": alarms - accepted,
        "alarm_answers": ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())),
        "send_seconds": round(wall, 1),
        "send_rate_per_s": round(alarms / wall, 1),
        **distribution("accepted_latency", latencies),
    }


def settle(service: Service, quiet: float, limit: float) -> float:
    """Wait until pages.jsonl has not grown for ``quiet`` seconds (at most ``limit``); the seconds waited."""
    started = time.monotonic()
    path = service.config / "pages.jsonl"
    size, since = -1, time.monotonic()
    while time.monotonic() - started < limit:
        now_size = path.stat().st_size if path.exists() else 0
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.2)
    return round(time.monotonic() - started, 1)


def stored(database: str, run: str) -> dict[str, Any]:
    """What the database holds for this run's keys."""
    engine = create_engine(database)
    like = {"like": f"storm-{run}-%"}
    incidents = "select id from incident where dedup_key like :like"
    try:
        with engine.connect() as db:
            outcomes = db.execute(
                text("select outcome, count(*) from alarm where dedup_key like :like group by outcome"), like
            ).all()
            created = db.execute(text(f"select count(*) from ({incidents}) i"), like).scalar_one()
            pages = db.execute(
                text(
                    "select status, count(*) from notification where purpose = 'page'"
                    f" and incident_id in ({incidents}) group by status"
                ),
                like,
            ).all()
            waiting = db.execute(
                text(
                    "select min(not_before) from notification where purpose = 'page' and status = 'pending'"
                    f" and incident_id in ({incidents})"
                ),
                like,
            ).scalar_one()
            timers = db.execute(text(f"select due_at from timer where incident_id in ({incidents})"), like).all()
            now = datetime.now(UTC)
            reached = db.execute(
                text(
                    "select count(distinct incident_id) from notification where purpose = 'page'"
                    f" and status in ('sent', 'pending', 'sending') and incident_id in ({incidents})"
                ),
                like,
            ).scalar_one()
    finally:
        engine.dispose()
    figures: dict[str, Any] = {"alarms_stored": sum(count for _, count in outcomes)}
    figures |= {f"alarms_stored_{outcome}": count for outcome, count in sorted(outcomes)}
    figures["incidents_created"] = created
    figures |= {f"page_rows_{status}": count for status, count in sorted(pages)}
    figures["incidents_with_a_page_sent_or_queued"] = reached
    # Pages still waiting (a rate limit or a retry: storm control no longer holds any back).
    figures["pending_pages_due_in_s"] = round((instant(waiting) - now).total_seconds()) if waiting else None
    late = [(now - due).total_seconds() for due in map(instant, (row[0] for row in timers)) if due < now]
    figures["timers_pending"] = len(timers)
    figures["timers_overdue"] = len(late)
    figures["timers_most_overdue_s"] = round(max(late), 1) if late else 0.0
    return figures


def instant(value: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back naive UTC text to a raw query)."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def messages(pages: list[dict[str, Any]]) -> dict[str, Any]:
    """Per person: messages in pages.jsonl, how many were bundles, how many incidents they named."""
    sent: Counter[str] = Counter()
    bundles: Counter[str] = Counter()
    covered: dict[str, set[str]] = defaultdict(set)
    for page in pages:
        if page.get("purpose") != "page":
            continue
        sent[page["person"]] += 1
        bundles[page["person"]] += 1 if page.get("incidents") else 0
        covered[page["person"]].update(str(i) for i in page.get("incidents") or [page["incident"]])
    figures: dict[str, Any] = {}
    for person in sorted(sent):
        figures[f"messages_to_{person}"] = sent[person]
        figures[f"bundles_to_{person}"] = bundles[person]
        figures[f"incidents_named_to_{person}"] = len(covered[person])
    figures["max_messages_to_one_person"] = max(sent.values(), default=0)
    figures["max_singles_to_one_person"] = max((sent[p] - bundles[p] for p in sent), default=0)
    return figures


def run(args: Any) -> dict[str, Any]:
    result = header("storm", database=args.database)
    with scratch() as work:
        database = args.database or f"sqlite:///{work / 'storm.db'}"
        config = configure(work, database, args.pages, args.per)
        service = Service(config)
        run_id = f"{time.time_ns():x}"
        result |= {
            "alarms": args.alarms,
            "dedup_keys": args.keys,
            "seconds": args.seconds,
            "clients": args.clients,
            "storm_bound": f"{args.pages} single pages per person and channel per {args.per}",
        }
        try:
            service.start()
            assert service.process is not None
            pid = service.process.pid
            result["serve_rss_at_start_mb"] = rss_mb(pid)
            result |= send(service.url, args.alarms, args.keys, args.seconds, args.clients, run_id)
            result["settle_seconds"] = settle(service, quiet=3.0, limit=30.0)
            result["serve_rss_at_end_mb"] = rss_mb(pid)
            result["serve_peak_rss_mb"] = peak_rss_mb(pid)
            result["serve_cpu_seconds"] = cpu_seconds(pid)
            pages = service.pages()
            database_figures = stored(database, run_id)  # while the service runs: timers still pending
        finally:
            service.stop()
        result |= messages(pages)
        result["singles_bounded_by_storm_control"] = result["max_singles_to_one_person"] <= args.pages
        result |= database_figures
        result["alarms_lost"] = result["alarms_accepted"] - result["alarms_stored"]
        paged = result["incidents_with_a_page_sent_or_queued"]
        result["incidents_without_a_page"] = result["incidents_created"] - paged
    return result


def main() -> None:
    parser = arguments(__doc__, "storm")
    parser.add_argument("--alarms", type=int, default=10_000, help="alarms sent in all")
    parser.add_argument("--keys", type=int, default=500, help="distinct dedup keys, used in turn")
    parser.add_argument("--seconds", type=float, default=60, help="the alarms are paced evenly over this long")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients (threads)")
    parser.add_argument("--pages", type=int, default=3, help="storm.pages: messages per person and channel per window")
    parser.add_argument("--per", default="10m", help="storm.per: the storm window")
    args = parser.parse_args()
    finish(run(args), args.out)


if __name__ == "__main__":
    main()
