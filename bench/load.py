"""A small HTTP/1.1 load generator for the ingest benchmarks, run in its own process.

Each client keeps one keep-alive connection and sends its requests one after the other, timing each
from the first byte written to the last byte of the answer read. Raw asyncio streams (uvloop when it
is installed) rather than an HTTP client library: the generator must outrun the server it measures on
the same two cores, and httpx spends more per request than the service does.

    python -m bench.load --port 8080 --token TOKEN --clients 10 --requests 20000 [--batch 100]

Prints one JSON object: requests, alarms, answers by status, wall seconds and every latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any


def _generic(run: str, index: int, keys: int) -> bytes:
    key = f"bench-{run}-{index % keys}"
    return json.dumps({"dedup_key": key, "severity": "warning", "summary": f"Load alarm {index}"}).encode()


def _alertmanager(run: str, index: int, keys: int, batch: int) -> bytes:
    alerts = []
    for j in range(batch):
        n = index * batch + j
        key = f"{run}-{n % keys}"
        alerts.append(
            {
                "status": "firing",
                "labels": {"alertname": "LoadTest", "instance": f"host{n % keys}", "severity": "warning"},
                "annotations": {"summary": f"Load alert {n}"},
                "startsAt": "2026-11-21T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": key,
            }
        )
    payload = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="LoadTest",batch="{index}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "memoguard",
        "groupLabels": {"alertname": "LoadTest"},
        "commonLabels": {"alertname": "LoadTest"},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts,
    }
    return json.dumps(payload).encode()


def request(path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(port: int, requests: list[bytes], latencies: list[float], statuses: Counter[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            started = time.perf_counter()
            writer.write(raw)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[int(status_line.split()[1])] += 1
    finally:
        writer.close()


async def _run(port: int, clients: int, requests: list[bytes]) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    shares = [requests[i::clients] for i in range(clients)]
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, share, latencies, statuses) for share in shares))
    wall = time.perf_counter() - started
    return {"wall_seconds": wall, "statuses": {str(k): v for k, v in statuses.items()}, "latencies": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP load for the ingest benchmark")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=0, help="alerts per Alertmanager payload (0: generic, one each)")
    parser.add_argument("--keys", type=int, default=1000, help="distinct dedup keys the alarms cycle through")
    parser.add_argument("--run", default=f"{time.time_ns():x}", help="prefix that makes this run's keys unique")
    args = parser.parse_args()
    if args.batch:
        path = "/api/v1/integrations/alertmanager"
        bodies = [_alertmanager(args.run, i, args.keys, args.batch) for i in range(args.requests)]
    else:
        path = "/api/v1/alarms"
        bodies = [_generic(args.run, i, args.keys) for i in range(args.requests)]
    requests = [request(path, args.token, body) for body in bodies]
    try:
        import uvloop  # noqa: PLC0415 - optional: faster when installed

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_run(args.port, args.clients, requests))
    result["requests"] = args.requests
    result["alarms"] = args.requests * (args.batch or 1)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
