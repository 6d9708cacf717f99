"""How fast pages get through SMPP: the adapter's own ceiling, and an alarm's way to the SMSC.

1. Provider throughput: one thread calls ``SmppProvider.send`` in a loop, no rate limit, straight to
   the in-process test SMSC (tests/support/smsc.py): N short GSM pages to one number, then N/4 long
   ones of two parts each. The figure is whole messages per second, first call to last answer.
2. Alarm-to-SMSC latency: a real ``memoguard serve`` (subprocess) with an smpp provider bound to the
   same SMSC, no rate, a one-step policy. Alarms go in over HTTP at RATE/s for SECONDS, each with its
   own dedup_key; each one's latency is the submit_sm's arrival at the SMSC (the first part of the
   page naming its incident) minus the moment the 2xx came back. Both are time.monotonic() in this
   process, the SMSC running here too. Lost: alarms with no page after a generous wait.

    .venv/bin/python bench/smpp.py [--pages 2000] [--rate 50] [--seconds 20] [--database URL]

Prints the figures and saves them to bench/results/smpp.json.
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import finish, paced_alarms, percentile  # noqa: E402
from memoguard import bootstrap  # noqa: E402
from memoguard.adapters.smpp import SmppProvider  # noqa: E402
from memoguard.config.schema import SmppProvider as SmppSettings  # noqa: E402
from memoguard.domain.person import Person  # noqa: E402
from memoguard.services.provider import Message  # noqa: E402
from tests.e2e.service import Service, e2e_config  # noqa: E402
from tests.support.parts import MemoryParts  # noqa: E402
from tests.support.smsc import Smsc, Submit  # noqa: E402

PASSWORD = "e2e-pass"  # SMPP 3.4 carries at most 8 characters
SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
POLICY = "name: fast\nsteps:\n  - {notify: ['roster:ops'], channels: [sms], ack_within: 1h}\n"
SHORT = "memoguard #{n} critical: Disk full on db{n}. Reply {n}a to acknowledge."
LONG = "memoguard #{n} critical: " + "Disk full on db1, /var at 100 %, writes failing. " * 5  # 2 GSM parts
INCIDENT = re.compile(r"memoguard #(\S+) ")


class StampedSmsc(Smsc):
    """The test SMSC, with the time.monotonic() of each submit_sm's arrival (index: number - 1)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.arrivals: list[float] = []

    def _submit(self, event: Any) -> None:
        # Called only by the SMSC's loop thread, one submit_sm at a time, before it is numbered.
        self.arrivals.append(time.monotonic())
        super()._submit(event)

    def arrival(self, submit: Submit) -> float:
        return self.arrivals[submit.number - 1]


class NoInbox:
    def receipt(self, receipt: object) -> None:
        pass

    def reply(self, message: object) -> None:
        pass


def throughput(smsc: StampedSmsc, count: int, template: str) -> tuple[float, int]:
    """Messages per second through one provider's send loop, and how many submit_sm that took."""
    settings = SmppSettings.model_validate(
        {"kind": "smpp", "host": smsc.host, "port": smsc.port, "system_id": smsc.system_id, "source": "MEMOGUARD"}
    )
    provider = SmppProvider("bench", settings, PASSWORD, NoInbox(), bootstrap.clock(), MemoryParts())
    person = Person("bob", phone="+33612345602", language="en")
    before = len(smsc.submits)
    try:
        provider.start()
        if not provider.wait_bound(10):
            raise RuntimeError(f"no bind to the SMSC: {provider.problem}")
        messages = [
            Message(i, f"bench-{i}", str(i), person, "sms", "page", "bench", template.format(n=i), datetime.now(UTC))
            for i in range(count)
        ]
        started = time.monotonic()
        for message in messages:
            provider.send(message)
        elapsed = time.monotonic() - started
    finally:
        provider.close()
    return count / elapsed, len(smsc.submits) - before


def configure(work: Path, database: str, port: int) -> Path:
    config = e2e_config(work, database)
    main = config / "memoguard.yaml"
    text = main.read_text(encoding="utf-8")
    text = text.replace(
        "  console: {kind: console, file: pages.jsonl}\n",
        f"  smsc: {{kind: smpp, host: 127.0.0.1, port: {port}, system_id: memoguard,"
        " password_file: secrets/smpp.password, source: MEMOGUARD}\n",
    )
    main.write_text(text.replace("  sms: [console]\n", "  sms: [smsc]\n"), encoding="utf-8")
    (config / "secrets" / "smpp.password").write_text(PASSWORD + "\n", encoding="utf-8")
    (config / "escalation_policies" / "fast.yaml").write_text(POLICY, encoding="utf-8")
    return config


def latency(smsc: StampedSmsc, config: Path, rate: int, seconds: float) -> dict[str, object]:
    service = Service(config)
    try:
        service.start()
        # incident id -> monotonic time of the 2xx
        answered, failed, sending = paced_alarms(service.url, SCRIPTS, rate, seconds)
        total = int(rate * seconds)
        arrived: dict[str, float] = {}
        deadline = time.monotonic() + 30 + seconds
        while True:
            for submit in smsc.submits:
                if submit.concat is not None and submit.concat.seq != 1:
                    continue
                found = INCIDENT.match(submit.text)
                if found and found.group(1) not in arrived:
                    arrived[found.group(1)] = smsc.arrival(submit)
            if all(incident in arrived for incident in answered) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        waits = [arrived[incident] - at for incident, at in answered.items() if incident in arrived]
        parts = [s for s in smsc.submits if s.concat is not None]
        return {
            "alarms": total,
            "alarms_sent_rate_per_s": round(total / sending, 2),
            "alarm_errors": failed,
            "latency_count": len(waits),
            "latency_min_ms": round(1000 * min(waits), 1) if waits else None,
            "latency_p50_ms": round(1000 * percentile(waits, 0.50), 1) if waits else None,
            "latency_p99_ms": round(1000 * percentile(waits, 0.99), 1) if waits else None,
            "latency_max_ms": round(1000 * max(waits), 1) if waits else None,
            "latency_mean_ms": round(1000 * statistics.fmean(waits), 1) if waits else None,
            "lost": len(answered) - len(waits),
            "pages_in_parts": len({(s.destination_addr, s.concat.reference) for s in parts if s.concat}),
            "submit_sm_total": len(smsc.submits),
        }
    finally:
        service.stop()


def run(pages: int, rate: int, seconds: float, database: str | None) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="memoguard-bench-"))
    try:
        result: dict[str, object] = {
            "benchmark": "smpp",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            "database": "postgresql" if database and database.startswith("postgresql") else "sqlite",
        }
        with StampedSmsc(password=PASSWORD) as smsc:
            short, _ = throughput(smsc, pages, SHORT)
            long, submits = throughput(smsc, max(1, pages // 4), LONG)
            result["provider_short_pages_per_s"] = round(short, 1)
            result["provider_long_pages_per_s"] = round(long, 1)
            result["provider_long_parts_per_page"] = round(submits / max(1, pages // 4), 2)
        with StampedSmsc(password=PASSWORD) as smsc:
            config = configure(work, database or f"sqlite:///{work / 'bench.db'}", smsc.port)
            result |= latency(smsc, config, rate, seconds)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000, help="short pages sent through the provider")
    parser.add_argument("--rate", type=int, default=50, help="alarms per second into memoguard serve")
    parser.add_argument("--seconds", type=float, default=20, help="how long alarms are sent")
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "smpp.json")
    args = parser.parse_args()
    result = run(args.pages, args.rate, args.seconds, args.database)
    finish(result, args.out)


if __name__ == "__main__":
    main()
