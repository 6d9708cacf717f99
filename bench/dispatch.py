"""How close the dispatcher gets to a provider's configured rate.

A webhook provider limited to RATE/s sends N pages, all queued at once, to a loopback receiver that
enforces the same limit (it answers 429 past it). The figure is the sustained rate as the receiver saw
it: the pages that arrived from the first arrival to the first page of the last second's burst, over
that time (the calls of the last burst take a little time no limiter can save, so they are left out),
as a share of RATE, with the receiver's 429 count (throttling errors) and how many pages never
arrived or arrived twice.

    .venv/bin/python bench/dispatch.py [--rate 100] [--pages 3000] [--database URL]

Prints the figures and saves them to bench/results/dispatch.json. Target: >= 98 % of the rate, zero
throttling errors, zero lost.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import finish  # noqa: E402
from memoguard import bootstrap  # noqa: E402
from memoguard.engine.runtime import Engine  # noqa: E402
from memoguard.services.record import Alarm, AlarmStatus, NotificationDraft  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "e2e"


def configure(directory: Path, database: str, url: str, rate: int) -> None:
    shutil.copytree(FIXTURE, directory)
    main = directory / "memoguard.yaml"
    text = main.read_text(encoding="utf-8").replace("  sms: [console]\n", "  sms: [hook]\n")
    text = text.replace(
        "  console: {kind: console, file: pages.jsonl}\n",
        f"  console: {{kind: console}}\n  hook: {{kind: webhook, url: '{url}', rate: ['{rate}/s']}}\n",
    )
    main.write_text(f"database: {database}\n" + text, encoding="utf-8")
    policy = "name: fast\nsteps:\n  - {notify: ['roster:ops'], channels: [sms], ack_within: 1h}\n"
    (directory / "escalation_policies" / "fast.yaml").write_text(policy, encoding="utf-8")


def run(rate: int, pages: int, database: str | None) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="memoguard-bench-"))
    try:
        with Receiver(limit=(rate, 1.0)) as receiver:
            config_dir = work / "config"
            configure(config_dir, database or f"sqlite:///{work / 'bench.db'}", receiver.url, rate)
            clock = bootstrap.clock()
            app = bootstrap.application(bootstrap.load(config_dir), clock)
            [receipt] = app.ingest.receive([Alarm("scripts", "bench", AlarmStatus.FIRING, "critical", "bench")])
            assert receipt.incident is not None
            with app.store.write() as unit:  # everything queued at once, in one transaction
                for i in range(pages - 1):
                    draft = NotificationDraft(
                        receipt.incident, "bob", ("sms",), "page", 0, 0, "bench", "bench", f"page {i}", clock.now()
                    )
                    unit.add_notification(draft)
            engine = Engine(app)
            started = time.monotonic()
            engine.start()
            arrived = receiver.wait_for(pages, timeout=pages / rate * 3 + 30)
            wall = time.monotonic() - started
            engine.stop()
            app.store.close()
            accepted = receiver.accepted()
            times = sorted(r.at for r in accepted)
            # The sustained rate: an ideal limiter sends `rate` pages in each second, one call after the
            # other, so the page `rate` places before the last starts the last second's burst exactly
            # (N - rate) / rate seconds after the first. Measuring to it, rather than to the last
            # arrival, leaves out the time the last burst's calls take, which no limiter can save.
            tail = len(times) - rate
            span = times[tail] - times[0] if tail > 0 else 0.0
            achieved = tail / span if span > 0 else 0.0
            keys = Counter(receiver.keys())
            return {
                "benchmark": "dispatch",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
                "database": "postgresql" if database and database.startswith("postgresql") else "sqlite",
                "configured_rate_per_s": rate,
                "pages": pages,
                "all_arrived": arrived,
                "achieved_rate_per_s": round(achieved, 2),
                "share_of_rate_percent": round(100 * achieved / rate, 2),
                # The whole run, last burst included: what a queue of `pages` costs from first to last.
                "whole_run_rate_per_s": round(len(times) / (times[-1] - times[0] + 1.0), 2) if times else 0.0,
                "max_in_any_second": receiver.max_in_window(1.0),
                "throttling_errors": receiver.throttled,
                "lost": pages - len(keys),
                "duplicates": sum(count - 1 for count in keys.values()),
                "wall_seconds": round(wall, 2),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100, help="the provider's configured rate, per second")
    parser.add_argument("--pages", type=int, default=3000, help="pages queued at once")
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dispatch.json")
    args = parser.parse_args()
    result = run(args.rate, args.pages, args.database)
    finish(result, args.out)


if __name__ == "__main__":
    main()
