"""How fast a page gets to Twilio: an alarm's way from memoguard's 2xx to the Twilio API request.

A real ``memoguard serve`` (subprocess) with a twilio provider pointed at the fake Twilio of
tests/support/twilio.py (a real HTTP server in this process, which checks each request as Twilio's API
reference asks), no rate limit, a one-step policy paging the primary by voice (the Calls API; ``--channel
sms`` for the Messages API). Alarms go in over HTTP at RATE/s for SECONDS, each with its own dedup_key;
each one's latency is the arrival of its API request at the fake Twilio minus the moment its 2xx came
back, both ``time.monotonic()`` in this process. A request is tied to its incident by the SID the timeline
records ("… via twilio (ref CA…)"). Lost: alarms with no request after a generous wait.

    .venv/bin/python bench/twilio.py [--rate 50] [--seconds 20] [--channel voice|sms] [--database URL]

Also the provider alone: one send loop, no rate limit, straight to the fake (API calls per second).
Prints the figures and saves them to bench/results/twilio.json (twilio-postgresql.json on PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on the path, and this file would stand for the twilio package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.common import finish, paced_alarms, percentile  # noqa: E402
from memoguard import bootstrap  # noqa: E402
from memoguard.adapters.twilio import TwilioProvider  # noqa: E402
from memoguard.config.schema import TwilioProvider as TwilioSettings  # noqa: E402
from memoguard.domain.person import Person  # noqa: E402
from memoguard.services.provider import Message  # noqa: E402
from tests.e2e.service import Service, e2e_config  # noqa: E402
from tests.support.twilio import AUTH_TOKEN, NUMBER, Twilio  # noqa: E402

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
PUBLIC_URL = "https://memoguard.example.net"
POLICY = "name: fast\nsteps:\n  - {{notify: ['roster:ops'], channels: [{channel}], ack_within: 1h}}\n"
REFERENCE = re.compile(r"via twilio \(ref ((?:CA|SM)[0-9a-f]{32})\)")


class StampedTwilio(Twilio):
    """The fake Twilio, with the time.monotonic() at which each accepted request arrived, by SID."""

    def __init__(self, public_url: str) -> None:
        super().__init__(public_url)
        self.arrivals: dict[str, float] = {}

    def _create(self, path: str, headers: Any, raw: str) -> tuple[int, dict[str, object], dict[str, str]]:
        arrived = time.monotonic()
        status, body, extra = super()._create(path, headers, raw)
        if status == 201:
            self.arrivals[str(body["sid"])] = arrived
        return status, body, extra


class _Placing:
    """Stands for the calls service: the provider places calls only with one (nothing calls back here)."""


def throughput(twilio: Twilio, count: int, channel: str) -> float:
    """API calls per second through one provider's send loop (no rate limit), straight to the fake."""
    settings = TwilioSettings.model_validate(
        {
            "kind": "twilio",
            "account_sid": twilio.account_sid,
            "auth_token_env": "UNUSED",
            "from": NUMBER,
            "api_base_url": twilio.url,
        }
    )
    provider = TwilioProvider("bench", settings, AUTH_TOKEN, PUBLIC_URL, None, bootstrap.clock(), _Placing())  # type: ignore[arg-type]
    person = Person("bob", phone="+33612345602", language="en")
    messages = [
        Message(
            i, f"bench-{i}", str(i), person, channel, "page", "bench", f"memoguard #{i} critical", datetime.now(UTC)
        )
        for i in range(count)
    ]
    started = time.monotonic()
    for message in messages:
        provider.send(message)
    return count / (time.monotonic() - started)


def configure(work: Path, database: str, twilio: Twilio, channel: str) -> Path:
    config = e2e_config(work, database)
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace(
        "  console: {kind: console, file: pages.jsonl}\n",
        f"  twilio: {{kind: twilio, account_sid: {twilio.account_sid}, auth_token_file: secrets/twilio.token,"
        f" from: '{NUMBER}', api_base_url: '{twilio.url}'}}\n",
    )
    text = text.replace("  sms: [console]\n", "  sms: [twilio]\n  voice: [twilio]\n")
    main.write_text(f"http: {{public_url: '{PUBLIC_URL}'}}\n" + text, encoding="utf-8")
    (config / "secrets" / "twilio.token").write_text(AUTH_TOKEN + "\n", encoding="utf-8")
    (config / "escalation_policies" / "fast.yaml").write_text(POLICY.format(channel=channel), encoding="utf-8")
    return config


def latency(twilio: StampedTwilio, config: Path, rate: int, seconds: float) -> dict[str, object]:
    service = Service(config)
    try:
        service.start()
        reader = service.bearer()
        # incident id -> monotonic time of the 2xx
        answered, failed, sending = paced_alarms(service.url, SCRIPTS, rate, seconds)
        total = int(rate * seconds)
        deadline = time.monotonic() + 30 + seconds
        while len(twilio.arrivals) < len(answered) and time.monotonic() < deadline:
            time.sleep(0.2)
        waits = []
        with httpx.Client(base_url=service.url, headers=reader, timeout=10) as client:
            for incident, at in answered.items():
                timeline = client.get(f"/api/v1/incidents/{incident}").json()["timeline"]
                sids = [m.group(1) for e in timeline if (m := REFERENCE.search(e["text"]))]
                if sids and sids[0] in twilio.arrivals:
                    waits.append(twilio.arrivals[sids[0]] - at)
        return {
            "alarms": total,
            "alarms_sent_rate_per_s": round(total / sending, 2),
            "alarm_errors": failed,
            "api_requests": len(twilio.arrivals),
            "latency_count": len(waits),
            "latency_min_ms": round(1000 * min(waits), 1) if waits else None,
            "latency_p50_ms": round(1000 * percentile(waits, 0.50), 1) if waits else None,
            "latency_p99_ms": round(1000 * percentile(waits, 0.99), 1) if waits else None,
            "latency_max_ms": round(1000 * max(waits), 1) if waits else None,
            "latency_mean_ms": round(1000 * statistics.fmean(waits), 1) if waits else None,
            "lost": len(answered) - len(waits),
            "refusals": len(twilio.refusals),
            "load_average_1m": round(os.getloadavg()[0], 2),  # the machine is shared: how busy it was
        }
    finally:
        service.stop()


def run(rate: int, seconds: float, channel: str, database: str | None) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="memoguard-bench-"))
    try:
        result: dict[str, object] = {
            "benchmark": "twilio",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            "database": "postgresql" if database and database.startswith("postgresql") else "sqlite",
            "channel": channel,
            "rate": rate,
        }
        with StampedTwilio(PUBLIC_URL) as twilio:
            result["provider_alone_calls_per_s"] = round(throughput(twilio, 500, channel), 1)
        with StampedTwilio(PUBLIC_URL) as twilio:
            config = configure(work, database or f"sqlite:///{work / 'bench.db'}", twilio, channel)
            result |= latency(twilio, config, rate, seconds)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=50, help="alarms per second into memoguard serve")
    parser.add_argument("--seconds", type=float, default=20, help="how long alarms are sent")
    parser.add_argument("--channel", choices=["voice", "sms"], default="voice", help="the Calls or Messages API")
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--out", type=Path, help="default: bench/results/twilio[-postgresql].json")
    args = parser.parse_args()
    result = run(args.rate, args.seconds, args.channel, args.database)
    suffix = "-postgresql" if result["database"] == "postgresql" else ""
    finish(result, args.out or ROOT / "bench" / "results" / f"twilio{suffix}.json")


if __name__ == "__main__":
    main()
