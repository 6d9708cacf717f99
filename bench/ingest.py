"""Alarm ingest over HTTP: alarms per second accepted durably, and the latency of the 2xx.

A real ``memoguard serve`` (one process, uvicorn, console provider writing to a file) takes load from a
generator in another process (bench/load.py: raw keep-alive HTTP/1.1 connections, one request at a time
on each). Phases, each with fresh dedup keys:

- generic alarms, one per request, from 1, 10 and 100 concurrent clients;
- Alertmanager payloads of 100 alerts each, from 10 concurrent clients.

The alarms of a phase cycle through 1,000 dedup keys: the first alarm of each key opens an incident
(pages its on-call person), the others attach to it, as repeated alerts do. After each phase the
script counts the alarm rows in the database: every 2xx must be a stored alarm (a 2xx means committed).

    .venv/bin/python bench/ingest.py [--database URL] [--scale 1.0]

Targets (DESIGN.md §11, SQLite, 2 cores): >= 5,000 alarms/s one per request at 10 clients, >= 50,000
alarms/s batched by 100.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from bench.common import ROOT, arguments, distribution, finish, header, scratch
from tests.e2e.service import Service, e2e_config

POLICY = "name: fast\nsteps:\n  - {notify: ['roster:ops'], channels: [sms], ack_within: 1h}\n"
TOKEN = "scripts-e2e"
PROMETHEUS = "prometheus-e2e"
KEYS = 1000

# (label, clients, requests, alerts per request)
PHASES = [
    ("one_client", 1, 3_000, 0),
    ("ten_clients", 10, 20_000, 0),
    ("hundred_clients", 100, 20_000, 0),
    ("batched_ten_clients", 10, 500, 100),
]


def configure(work: Path, database: str) -> Path:
    config = e2e_config(work, database)
    main = config / "memoguard.yaml"
    # Storm control at its defaults, as in production (the e2e fixture turns it off for its own counts).
    text_ = main.read_text(encoding="utf-8").replace("storm: {pages: 0}\n", "")
    main.write_text(text_, encoding="utf-8")
    (config / "escalation_policies" / "fast.yaml").write_text(POLICY, encoding="utf-8")
    return config


def stored_alarms(database: str, source: str) -> int:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            query = text("SELECT count(*) FROM alarm WHERE source = :source")
            return int(connection.execute(query, {"source": source}).scalar_one())
    finally:
        engine.dispose()


def phase(service: Service, label: str, clients: int, requests: int, batch: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.load",
        f"--port={service.port}",
        f"--token={PROMETHEUS if batch else TOKEN}",
        f"--clients={clients}",
        f"--requests={requests}",
        f"--batch={batch}",
        f"--keys={KEYS}",
        f"--run={label}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=600)
    load = json.loads(done.stdout)
    ok = load["statuses"].get("200", 0)
    alarms = ok * (batch or 1)
    return {
        f"{label}_clients": clients,
        f"{label}_requests": requests,
        f"{label}_alarms_per_request": batch or 1,
        f"{label}_answers": load["statuses"],
        f"{label}_alarms_per_s": round(alarms / load["wall_seconds"], 1),
        f"{label}_requests_per_s": round(ok / load["wall_seconds"], 1),
        **distribution(f"{label}_2xx", load["latencies"]),
    }


def run(database: str | None, scale: float) -> dict[str, Any]:
    result = header("ingest", database=database)
    with scratch() as work:
        url = database or f"sqlite:///{work / 'bench.db'}"
        service = Service(configure(work, url))
        service.start()
        try:
            accepted = {"scripts": 0, "prometheus": 0}
            for label, clients, requests, batch in PHASES:
                figures = phase(service, label, clients, max(clients, int(requests * scale)), batch)
                result |= figures
                accepted["prometheus" if batch else "scripts"] += figures[f"{label}_answers"].get("200", 0) * (
                    batch or 1
                )
                print(f"{label}: {figures[f'{label}_alarms_per_s']} alarms/s", file=sys.stderr, flush=True)
        finally:
            service.stop()
        stored = {source: stored_alarms(url, source) for source in accepted}
        result["alarms_acknowledged_2xx"] = sum(accepted.values())
        result["alarms_stored"] = sum(stored.values())
        result["lost"] = sum(max(0, accepted[s] - stored[s]) for s in accepted)
    return result


def main() -> None:
    parser = arguments(__doc__, "ingest")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the requests of every phase")
    args = parser.parse_args()
    finish(run(args.database, args.scale), args.out)


if __name__ == "__main__":
    main()
