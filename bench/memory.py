"""Memory: RSS of a real ``memoguard serve`` with 10,000 open incidents (DESIGN.md §11: <= 150 MB).

One ``memoguard serve`` (subprocess, uvicorn on loopback, console provider limited to RATE pages/s,
storm control off) on a fresh database, with TEAMS teams (rosters of two, two-step policies: step 1
for STEP1, then step 2 for an hour, as in bench/timer.py). Its resident memory (VmRSS from /proc) is
read:

- ``idle_rss_mb``: ready, with no incident, after a few seconds of idle loops;
- ``created_rss_mb``: once INCIDENTS incidents have been opened through the HTTP API, as Prometheus
  Alertmanager would: payloads of 100 alerts (each its own fingerprint and ``team`` label) posted one
  after the other to /api/v1/integrations/alertmanager. Every one goes through the process's HTTP
  stack, ingest and caches; meanwhile the timer loop fires the step-1 timers as they fall due and the
  dispatcher pages at its rate;
- ``settled_rss_mb``: after SETTLE more seconds of the loops running (timers firing, pages going out)
  and a look at the incident list (GET /api/v1/incidents?limit=1000, what a dashboard does);
- ``peak_rss_mb``: the process's high-water mark (VmHWM) at the end; ``max_sampled_rss_mb`` the
  highest of the readings taken every 0.25 s throughout.

    .venv/bin/python bench/memory.py [--incidents 10000] [--teams 100] [--step1 10s] [--settle 8]
                                     [--rate 100] [--database URL] [--out PATH]

With --database, give an empty database. Prints the figures and saves them to
bench/results/memory.json. Target: <= 150 MB RSS with 10,000 open incidents.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import arguments, finish, header, peak_rss_mb, rss_mb, scratch
from bench.restart import launch
from bench.timer import PROMETHEUS_TOKEN, configure, counts
from tests.e2e.service import Service

BATCH = 100  # alerts per Alertmanager payload
TARGET_MB = 150.0


def payload(first: int, count: int, teams: int, run: str) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "DiskFull",
                "instance": f"db{i}:9100",
                "service": "db",
                "severity": "critical",
                "team": f"t{i % teams}",
            },
            "annotations": {"summary": f"Disk full on db{i}", "runbook_url": "https://runbooks.example/disk"},
            "startsAt": "2026-11-21T11:47:42Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph?g0.expr=disk",
            "fingerprint": f"{run}{i:08x}",
        }
        for i in range(first, first + count)
    ]
    body = {
        "receiver": "memoguard",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
    }
    return json.dumps(body).encode()


class Sampler:
    """Reads a process's RSS every ``period`` seconds in a thread; keeps the highest."""

    def __init__(self, pid: int, period: float = 0.25) -> None:
        self._pid = pid
        self._period = period
        self.highest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.highest = max(self.highest, rss_mb(self._pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(self._period)


def create(service: Service, incidents: int, teams: int) -> tuple[float, int]:
    """Post the alerts in payloads of BATCH; returns the seconds it took and the number of errors."""
    run = f"{time.time_ns():x}"[-6:]
    errors = 0
    headers = {"Authorization": f"Bearer {PROMETHEUS_TOKEN}", "Content-Type": "application/json"}
    started = time.monotonic()
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as client:
        for first in range(0, incidents, BATCH):
            answer = client.post(
                "/api/v1/integrations/alertmanager", content=payload(first, min(BATCH, incidents - first), teams, run)
            )
            if not answer.is_success:
                errors += 1
                print(f"payload at {first}: HTTP {answer.status_code} {answer.text[:200]}", file=sys.stderr)
    return time.monotonic() - started, errors


def run(args: Any) -> dict[str, Any]:
    result = header("memory", database=args.database)
    with scratch() as work:
        url = args.database or f"sqlite:///{work / 'bench.db'}"
        config = configure(work / "config", url, teams=args.teams, rate=args.rate, steps=(args.step1, "1h"))
        check = sa.create_engine(url)
        service = Service(config)
        try:
            launch(service)
            assert service.process is not None
            pid = service.process.pid
            started_rss = rss_mb(pid)
            with Sampler(pid) as sampler:
                time.sleep(args.idle)
                idle = rss_mb(pid)
                created_in, errors = create(service, args.incidents, args.teams)
                created = rss_mb(pid)
                time.sleep(args.settle)
                with httpx.Client(base_url=service.url, timeout=60) as client:
                    listed = client.get("/api/v1/incidents", params={"limit": 1000})
                settled = rss_mb(pid)
                peak = peak_rss_mb(pid)
            found = counts(check)
        finally:
            service.stop()
            check.dispose()
    result |= {
        "incidents": args.incidents,
        "teams": args.teams,
        "created_through": f"HTTP, Alertmanager payloads of {BATCH} alerts",
        "create_seconds": round(created_in, 1),
        "create_errors": errors,
        "open_incidents": found["open_incidents"],
        "provider_rate_per_s": args.rate,
        "step1_ack_within": args.step1,
        "ready_rss_mb": started_rss,
        "idle_rss_mb": idle,
        "created_rss_mb": created,
        "settled_rss_mb": settled,
        "incident_list_status": listed.status_code,
        "max_sampled_rss_mb": sampler.highest,
        "peak_rss_mb": peak,
        "target_mb": TARGET_MB,
        "target_met": errors == 0 and max(peak, settled) <= TARGET_MB,
    }
    return result


def main() -> None:
    parser = arguments(__doc__, "memory")
    parser.add_argument("--incidents", type=int, default=10_000, help="open incidents to create over HTTP")
    parser.add_argument("--teams", type=int, default=100, help="teams the incidents are spread over")
    parser.add_argument("--step1", default="10s", help="step 1's ack_within: its timers fire during the run")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle loops before the first reading")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds of loops after the last incident")
    parser.add_argument("--rate", type=int, default=100, help="the console provider's rate limit, pages/s")
    args = parser.parse_args()
    finish(run(args), args.out)


if __name__ == "__main__":
    main()
