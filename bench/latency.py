"""Alarm to first page: from the HTTP 2xx of a new alarm to the moment the provider is handed its page.

A real ``memoguard serve`` takes alarms at a steady 50 per second (one request each, a new dedup key
each, so each opens an incident and pages its on-call person at once). The provider is the console
one writing a JSON line per page to a file, stamped with the time it was handed the page; the script
compares that stamp with the wall-clock time the client read the 2xx (the same machine, the same
clock). Storm control is off (as in tests/fixtures/e2e): here every alarm pages the same person, and
bundling would hold pages back on purpose. A page handed over before the client has read its 2xx
counts as a negative latency; the time from the request's first byte is reported beside it.

    .venv/bin/python bench/latency.py [--database URL] [--rate 50] [--seconds 20]

Target (DESIGN.md §11): p99 <= 100 ms at 50 alarms/s.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import arguments, distribution, finish, header, scratch
from tests.e2e.service import Service, e2e_config

POLICY = "name: fast\nsteps:\n  - {notify: ['roster:ops'], channels: [sms], ack_within: 1h}\n"
SCRIPTS = {"Authorization": "Bearer scripts-e2e"}


def configure(work: Path, database: str) -> Path:
    config = e2e_config(work, database)
    (config / "escalation_policies" / "fast.yaml").write_text(POLICY, encoding="utf-8")
    return config


def handed(pages: Path) -> dict[str, float]:
    """Incident id -> the moment (epoch seconds) its first page reached the provider."""
    first: dict[str, float] = {}
    if not pages.exists():
        return first
    for line in pages.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record["purpose"] != "page":
            continue
        at = _epoch(record["time"])
        incident = str(record["incident"])
        first[incident] = min(at, first.get(incident, at))
    return first


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def run(database: str | None, rate: int, seconds: float) -> dict[str, Any]:
    result = header("latency", database=database)
    with scratch() as work:
        service = Service(configure(work, database or f"sqlite:///{work / 'bench.db'}"))
        service.start()
        try:
            sent: dict[str, tuple[float, float]] = {}  # incident -> (request sent, 2xx read), epoch seconds
            errors = 0
            total = int(rate * seconds)
            with httpx.Client(base_url=service.url, headers=SCRIPTS, timeout=10) as client:
                started = time.monotonic()
                for i in range(total):
                    pause = started + i / rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    body = {"dedup_key": f"latency-{i}", "severity": "critical", "summary": f"Disk full on db{i}"}
                    before = time.time()
                    answer = client.post("/api/v1/alarms", json=body)
                    after = time.time()
                    if answer.status_code != 200:
                        errors += 1
                        continue
                    sent[str(answer.json()["alarms"][0]["incident"])] = (before, after)
                sending = time.monotonic() - started
            pages = service.config / "pages.jsonl"
            deadline = time.monotonic() + 30
            arrived = handed(pages)
            while any(incident not in arrived for incident in sent) and time.monotonic() < deadline:
                time.sleep(0.2)
                arrived = handed(pages)
        finally:
            service.stop()
    from_2xx = [arrived[i] - after for i, (_, after) in sent.items() if i in arrived]
    from_request = [arrived[i] - before for i, (before, _) in sent.items() if i in arrived]
    result |= {
        "alarms": total,
        "alarms_per_s_reached": round(total / sending, 1),
        "alarm_errors": errors,
        "pages_missing": len(sent) - len(from_2xx),
        **distribution("from_2xx", from_2xx),
        **distribution("from_request", from_request),
    }
    return result


def main() -> None:
    parser = arguments(__doc__, "latency")
    parser.add_argument("--rate", type=int, default=50, help="alarms per second")
    parser.add_argument("--seconds", type=float, default=20, help="how long alarms are sent")
    args = parser.parse_args()
    finish(run(args.database, args.rate, args.seconds), args.out)


if __name__ == "__main__":
    main()
