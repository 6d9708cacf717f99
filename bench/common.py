"""What every benchmark script shares: the machine line, percentiles, the command line and saving.

A script imports this first (it puts the repository root on ``sys.path`` so ``memoguard`` and
``tests.support`` import from a checkout), builds its figures as a flat dict and hands them to ``finish``,
which prints them and writes ``bench/results/<name>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = os.cpu_count() or 0
    where = f"{platform.system()} {platform.machine()}, {cores} cores"
    return f"{where}{f' ({model})' if model else ''}, Python {platform.python_version()}"


def database_kind(url: str | None) -> str:
    return "postgresql" if url and url.startswith("postgresql") else "sqlite"


def header(name: str, *, database: str | None = None, storage: bool = True) -> dict[str, Any]:
    """The first keys of every result; ``storage=False`` for a benchmark that uses no database."""
    result: dict[str, Any] = {
        "benchmark": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    if storage:
        result["database"] = database_kind(database)
    return result


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (no interpolation): a value that was actually observed."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(share * len(ordered) + 0.5) - 1))]


def distribution(prefix: str, seconds: Sequence[float]) -> dict[str, float | int | None]:
    """count, p50, p99, max and mean of durations given in seconds, in milliseconds."""
    if not seconds:
        return {f"{prefix}_count": 0, f"{prefix}_p50_ms": None, f"{prefix}_p99_ms": None, f"{prefix}_max_ms": None}
    return {
        f"{prefix}_count": len(seconds),
        f"{prefix}_p50_ms": round(1000 * percentile(seconds, 0.50), 2),
        f"{prefix}_p99_ms": round(1000 * percentile(seconds, 0.99), 2),
        f"{prefix}_max_ms": round(1000 * max(seconds), 2),
        f"{prefix}_mean_ms": round(1000 * sum(seconds) / len(seconds), 2),
    }


def arguments(doc: str | None, name: str, *, database: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(doc or name).strip().splitlines()[0])
    if database:
        parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--out", type=Path, default=RESULTS / f"{name}.json", help="where the JSON figures go")
    return parser


def finish(result: dict[str, Any], out: Path) -> None:
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:>{width}}: {value}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"saved to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}", flush=True)


class Poller:
    """Looks at the database from its own connection every ``interval`` seconds, in a thread, until
    ``look`` returns True (``done_at``: the monotonic time it first did) or the block ends.

    Its own engine, not the store's: on SQLite every store transaction takes the write lock, and the
    process measured may be another one (``memoguard serve``). A look that keeps what it sees (a dict of
    first sightings) and returns False watches for the whole block."""

    def __init__(
        self, url: str, look: Callable[[sa.Engine], bool], interval: float = 0.02, name: str = "poller"
    ) -> None:
        self._engine = sa.create_engine(url)
        self._look = look
        self._interval = interval
        self.done_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bench-{name}", daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._engine.dispose()

    def wait(self, timeout: float) -> bool:
        """Until ``look`` said done (True) or ``timeout`` seconds passed (False)."""
        self._thread.join(timeout)
        return self.done_at is not None

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._look(self._engine):
                self.done_at = time.monotonic()
                return
            self._stop.wait(self._interval)


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary directory removed afterwards (configuration copies, SQLite files)."""
    work = Path(tempfile.mkdtemp(prefix="memoguard-bench-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), from /proc, in MB (10^6 bytes)."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text(encoding="utf-8")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) * 1024 / 1e6, 1)
    raise RuntimeError("no VmRSS line in /proc/<pid>/status")


def peak_rss_mb(pid: int | None = None) -> float:
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text(encoding="utf-8")
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) * 1024 / 1e6, 1)
    raise RuntimeError("no VmHWM line in /proc/<pid>/status")


def paced_alarms(url: str, headers: dict[str, str], rate: int, seconds: float) -> tuple[dict[str, float], int, float]:
    """Post ``rate`` alarms a second for ``seconds``, each its own incident, on a steady pace (not a burst).

    Returns the incident ids with the monotonic time their 2xx came back, the count of refused posts, and
    how long sending took (longer than ``seconds`` when the service could not keep the pace)."""
    answered: dict[str, float] = {}
    failed = 0
    run = f"{time.time_ns():x}"
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        started = time.monotonic()
        for i in range(int(rate * seconds)):
            pause = started + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            body = {"dedup_key": f"bench-{run}-{i}", "severity": "critical", "summary": f"Disk full on db{i}"}
            answer = client.post("/api/v1/alarms", json=body)
            at = time.monotonic()
            if not answer.is_success:
                failed += 1
                continue
            answered[answer.json()["alarms"][0]["incident"]] = at
        sending = time.monotonic() - started
    return answered, failed, sending
