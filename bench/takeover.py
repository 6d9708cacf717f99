"""Takeover: two `memoguard serve` on one PostgreSQL database, one killed (SIGKILL) while it holds pages
it claimed; how late is every page after the kill, and how many went out twice.

Each instance has its own configuration directory (same database, same provider name ``hook``, a webhook
to a receiver in this process whose path says which instance sent: /a or /b) and answers its alarms'
pages itself when it plans first. The receiver takes DELAY seconds to answer each page, like a real
SMS gateway, so a dispatch round of several pages is in flight for a while.

1. Both start; a stream of RATE alarms/s (one per request, generic source), alternating between them,
   for BEFORE seconds.
2. A burst of BURST alarms (one Alertmanager payload) to A. Whichever instance plans it (A, or B woken
   by NOTIFY) claims all of it; once that one has handed 3 of them to the receiver, the rows it holds
   claimed (``sending`` under its claimant token) are noted and it is SIGKILLed.
3. The stream goes on to the survivor alone for AFTER seconds; then everything is waited for.

Figures (times are the wall clock: a page is due when its notification row was written, and arrives
when the receiver reads its request):
- ``after_kill_late_*``: lateness (arrival − due) of every page not yet arrived at the kill — the
  dead one's claims, its queue, and everything that came after. Target: p99 ≤ 2 s.
- ``takeover_*``: for the pages the dead one held claimed and had not sent at the kill, arrival − kill.
- ``duplicates``: pages that reached the receiver twice; ``duplicates_in_flight``: those the dead one
  had handed to the receiver just before it died (its send in flight: delivery is at least once, with
  the same idempotency key), the only duplicates the claim rule allows. ``lost``: never arrived.

    .venv/bin/python -m bench.takeover --database postgresql+psycopg://USER@HOST/DB [--rate 10]
                                       [--burst 20] [--delay 0.02] [--out PATH]

PostgreSQL only (SQLite serves one process): give an empty database. Prints the figures and saves them
to bench/results/takeover-postgresql.json.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, arguments, distribution, finish, header, scratch
from memoguard import bootstrap
from memoguard.adapters.storage.claim import CLAIMANT_LOCK
from memoguard.adapters.storage.table import METADATA
from tests.e2e.service import Service, e2e_config
from tests.support.receiver import Receiver

TARGET_S = 2.0
SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
PROMETHEUS = {"Authorization": "Bearer prometheus-e2e"}
Answer = tuple[int, list[tuple[str, str]], bytes]


class SlowReceiver(Receiver):
    """The gateway: records each page as it arrives (wall clock), answers ``delay`` seconds later."""

    def __init__(self, delay: float) -> None:
        super().__init__(now=time.time)
        self._delay = delay

    def _handle(self, path: str, headers: httpx.Headers, body: bytes) -> Answer:
        answer = super()._handle(path, headers, body)
        time.sleep(self._delay)
        return answer


def configure(work: Path, url: str, receiver: Receiver, name: str) -> Path:
    """Instance ``name``'s configuration: its own database session name and webhook path."""
    separator = "&" if "?" in url else "?"
    config = e2e_config(work / name, f"{url}{separator}application_name=memoguard-{name}")
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace("  sms: [console]\n", "  sms: [hook]\n")
    hook = f"  hook: {{kind: webhook, url: '{receiver.url[: -len('/hook')]}/{name}'}}\n"
    text = text.replace("  console: {kind: console, file: pages.jsonl}\n", f"  console: {{kind: console}}\n{hook}")
    main.write_text(text, encoding="utf-8")
    # Nobody acknowledges: steps long enough that only each incident's first page goes during the run.
    (config / "escalation_policies" / "fast.yaml").write_text(
        "name: fast\nsteps:\n  - {notify: ['roster:ops'], channels: [sms], ack_within: 1h}\n", encoding="utf-8"
    )
    return config


def alertmanager(keys: list[str]) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "Burst", "instance": key, "severity": "critical"},
            "annotations": {"summary": f"burst {key}"},
            "startsAt": "2026-12-03T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph",
            "fingerprint": key,
        }
        for key in keys
    ]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="Burst"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "memoguard",
        "groupLabels": {},
        "commonLabels": {"alertname": "Burst"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "alerts": alerts,
    }


def stream(client: httpx.Client, targets: list[Service], rate: float, seconds: float, prefix: str) -> int:
    """Alarms at ``rate``/s for ``seconds``, one per request, round-robin over ``targets``."""
    sent = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        target = targets[sent % len(targets)]
        body = {"dedup_key": f"{prefix}-{sent}", "summary": f"takeover bench {prefix} {sent}", "severity": "critical"}
        answer = client.post(f"{target.url}/api/v1/alarms", json=body, headers=SCRIPTS)
        if answer.status_code != 200:
            raise RuntimeError(f"alarm refused: {answer.status_code} {answer.text}")
        sent += 1
        pause = start + sent / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    return sent


def claims_of(check: sa.Engine, name: str) -> set[int]:
    """The rows instance ``name`` holds claimed right now (its claimant session found by its name)."""
    with check.connect() as c:
        token = c.execute(
            sa.text(
                "SELECT l.objid::bigint FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.classid = :namespace AND l.objsubid = 2"
                " AND a.application_name = :name AND a.datname = current_database()"
            ),
            {"namespace": CLAIMANT_LOCK, "name": f"memoguard-{name}"},
        ).scalar_one_or_none()
        if token is None:
            return set()
        rows = c.execute(
            sa.text("SELECT id FROM notification WHERE status = 'sending' AND claimed_by = :token"), {"token": token}
        )
        return {int(r.id) for r in rows}


def pages(check: sa.Engine) -> dict[int, float]:
    """Every page row: id → when it was due (written), as a Unix time."""
    n = METADATA.tables["notification"]
    with check.connect() as c:
        rows = c.execute(sa.select(n.c.id, n.c.created_at).where(n.c.purpose == "page"))
        return {int(r.id): r.created_at.timestamp() for r in rows}


def arrivals(receiver: Receiver) -> dict[int, list[tuple[float, str]]]:
    """Page id → every (arrival time, instance) the receiver saw it, in order."""
    seen: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for request in receiver.requests():
        key = request.headers.get("Idempotency-Key") or ""
        if key.startswith("memoguard-") and key[len("memoguard-") :].isdigit():
            seen[int(key[len("memoguard-") :])].append((request.at, request.path.strip("/")))
    return seen


def wait_all(check: sa.Engine, receiver: Receiver, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(pages(check)) <= set(arrivals(receiver)):
            return
        time.sleep(0.1)


def sent_by(receiver: Receiver) -> dict[str, int]:
    """How many pages each instance has handed to the receiver so far."""
    counts = {"a": 0, "b": 0}
    for r in receiver.requests():
        counts[r.path.strip("/")] += 1
    return counts


def burst(client: httpx.Client, to: Service, receiver: Receiver, args: Any) -> str:
    """Send a burst of alarms to ``to``; returns the instance that plans it (whichever plans first: the
    one that was told, or the other one, woken by NOTIFY), once it has handed 3 of them to the receiver."""
    keys = [f"burst-{i}" for i in range(args.burst)]
    seen = sent_by(receiver)
    answer = client.post(f"{to.url}/api/v1/integrations/alertmanager", json=alertmanager(keys), headers=PROMETHEUS)
    if answer.status_code != 200:
        raise RuntimeError(f"burst refused: {answer.status_code} {answer.text}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = sent_by(receiver)
        for name in ("a", "b"):
            if now[name] >= seen[name] + 3:
                return name
        time.sleep(0.002)
    raise RuntimeError("nobody sent the burst within 10 s")


def run(args: Any) -> dict[str, Any]:
    url = args.database
    if not url or not url.startswith("postgresql"):
        raise SystemExit("bench/takeover.py needs --database postgresql+psycopg://…: SQLite serves one process")
    result = header("takeover", database=url)
    check = sa.create_engine(url)
    with scratch() as work, SlowReceiver(args.delay) as receiver:
        a_dir, b_dir = (configure(work, url, receiver, name) for name in ("a", "b"))
        app = bootstrap.application(bootstrap.load(a_dir), bootstrap.clock())  # the schema, at head
        app.store.close()
        if pages(check):
            raise SystemExit(f"{url} already holds notifications: give an empty database")
        a, b = Service(a_dir), Service(b_dir)
        a.start()
        b.start()
        try:
            with httpx.Client(timeout=30) as client:
                before = stream(client, [a, b], args.rate, args.before, "before")
                victim = burst(client, a, receiver, args)
                dead, survivor = (a, b) if victim == "a" else (b, a)
                claimed = claims_of(check, victim)
                dead.kill()
                killed = time.time()
                after = stream(client, [survivor], args.rate, args.after, "after")
            wait_all(check, receiver, args.timeout)
        finally:
            a.stop()
            b.stop()  # the killed one is already gone
        due = pages(check)
        seen_at = arrivals(receiver)
    check.dispose()
    first = {page: times[0][0] for page, times in seen_at.items()}
    after_kill = [page for page in due if first.get(page, float("inf")) > killed]
    late_after = [first[p] - due[p] for p in after_kill if p in first]
    late_before = [first[p] - due[p] for p in due if p in first and first[p] <= killed]
    taken_over = [p for p in claimed if first.get(p, float("inf")) > killed]
    takeover = [first[p] - killed for p in taken_over if p in first]
    twice = [p for p, times in seen_at.items() if len(times) > 1]
    in_flight = [p for p in twice if p in claimed and seen_at[p][0][1] == victim and seen_at[p][0][0] <= killed]
    lost = sorted(set(due) - set(first))
    after_stats = distribution("after_kill_late", late_after)
    result |= {
        "instances": 2,
        "alarm_rate_per_s": args.rate,
        "provider_answer_s": args.delay,
        "alarms_before_kill": before,
        "burst_to_killed_instance": args.burst,
        "killed": victim,
        "alarms_after_kill": after,
        "pages": len(due),
        "dead_claims_at_kill": len(claimed),
        "dead_claims_unsent_at_kill": len(taken_over),
        **distribution("takeover", takeover),
        **after_stats,
        **distribution("before_kill_late", late_before),
        "sent_by_survivor_after_kill": sum(1 for p in after_kill if p in seen_at and seen_at[p][0][1] != victim),
        "duplicates": len(twice),
        "duplicates_in_flight": len(in_flight),
        "lost": len(lost),
        "target_p99_s": TARGET_S,
        "target_met": bool(late_after)
        and not lost
        and (after_stats["after_kill_late_p99_ms"] or 0) <= 1000 * TARGET_S
        and len(twice) == len(in_flight),
    }
    return result


def main() -> None:
    parser = arguments(__doc__, "takeover")
    parser.set_defaults(out=RESULTS / "takeover-postgresql.json")
    parser.add_argument("--rate", type=float, default=10.0, help="alarms per second in the stream")
    parser.add_argument("--burst", type=int, default=20, help="alarms in the burst, claimed by the instance killed")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds the receiver takes to answer a page")
    parser.add_argument("--before", type=float, default=5.0, help="seconds of stream before the kill")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of stream after the kill")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every page at the end")
    args = parser.parse_args()
    finish(run(args), args.out)


if __name__ == "__main__":
    main()
