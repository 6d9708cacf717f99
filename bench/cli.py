"""CLI wall time: what `memoguard ack`, `memoguard incident` and `memoguard oncall` cost from a shell,
each in a fresh process, as the person paged at 3 a.m. runs them (issue 20: about 1.5 s each, most of it
importing what the command never uses; target ≤ 300 ms).

On a copy of the example configuration (the repository root, as the README's quick start uses it) and
a database at head with RUNS incidents opened by `memoguard alarm send`, each run times, in fresh
processes (``python -m memoguard``, after one warm-up run that compiles the bytecode):

- ``ack ID --as nadia`` (a different incident each run: every ack changes one),
- ``incident ID`` (the incident's facts, timeline and notifications, as a table),
- ``oncall`` (every roster, every level, with the overrides of the database),
- ``import``: the interpreter importing ``memoguard.cli`` and resolving those three commands, and
  ``python -c pass`` (``interpreter``), the floor no command can go below.

For each: the median and p90 wall time in seconds (``*_p50_s``, ``*_p90_s``) and the median CPU time
of the process (user + system, ``*_cpu_s``), which the other load of a shared machine changes less
than the wall time. ``imported`` lists the heavy packages the ``ack`` path still imports.

    .venv/bin/python bench/cli.py [--runs 15] [--database URL] [--out PATH] [--before PATH]

``--before`` takes the JSON saved by a run on earlier code (the README's "before" figures: the code
before issue 20, run with that checkout first on ``PYTHONPATH``).

With --database, give an empty database (the schema is created in it). Prints the figures and saves
them to bench/results/cli.json (``cli-postgresql.json`` through ``python -m bench --postgresql``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, arguments, finish, header, percentile, scratch

TARGET_S = 0.3
ADMIN = "nadia"  # an admin of the example configuration: may act on any incident
RESOLVE = "import memoguard.cli as c, click; x = click.Context(c.cli); [c.cli.get_command(x, n) for n in {names!r}]"
HEAVY = ("fastapi", "uvicorn", "starlette", "alembic", "psycopg", "prometheus_client", "httpx", "twilio", "aiosmtpd")


def prepare(directory: Path, database: str | None) -> Path:
    """A copy of the example configuration on ``database`` (default: SQLite in ``directory``)."""
    for name in ("rosters", "escalation_policies"):
        shutil.copytree(ROOT / name, directory / name)
    main = (ROOT / "memoguard.yaml").read_text(encoding="utf-8")
    url = database or f"sqlite:///{directory / 'memoguard.db'}"
    (directory / "memoguard.yaml").write_text(f"{main}\ndatabase: {url}\n", encoding="utf-8")
    return directory


def run(config: Path, *args: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one fresh ``python -m memoguard`` process; it must succeed."""
    return timed([sys.executable, "-m", "memoguard", "--config", str(config), *args])


def timed(argv: list[str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env={**os.environ, "NO_COLOR": "1"})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[2:])} exited with {done.returncode}: {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def figures(name: str, samples: list[tuple[float, float]]) -> dict[str, float]:
    walls = [wall for wall, _ in samples]
    return {
        f"{name}_p50_s": round(statistics.median(walls), 3),
        f"{name}_p90_s": round(percentile(walls, 0.90), 3),
        f"{name}_cpu_s": round(statistics.median(cpu for _, cpu in samples), 3),
    }


def imported(config: Path, incident: str) -> list[str]:
    """The heavy packages still in ``sys.modules`` after ``ack`` ran in process."""
    code = (
        "import sys\nfrom memoguard.cli import cli\n"
        f"cli.main(['--config', {str(config)!r}, 'ack', {incident!r}, '--as', {ADMIN!r}], standalone_mode=False)\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    return timed([sys.executable, "-c", code])[2].splitlines()[-1].split()  # the last line: after ack's own


def main() -> None:
    parser = arguments(__doc__, "cli")
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per command")
    parser.add_argument(
        "--before", type=Path, help="the JSON of a run on earlier code, whose figures are kept as before_*"
    )
    args = parser.parse_args()
    result: dict[str, Any] = header("cli", database=args.database)
    result["runs"] = args.runs
    with scratch() as work:
        config = prepare(work, args.database)
        run(config, "db", "upgrade")
        ids = []
        for k in range(args.runs + 2):  # one for the warm-up, one for `imported`
            out = run(config, "alarm", "send", "--severity", "critical", "-s", f"disk {k} full", "--json")[2]
            ids.append(str(json.loads(out)["incident"]))
        warm, probe = ids.pop(), ids.pop()
        for args_ in (("ack", warm, "--as", ADMIN), ("incident", warm), ("oncall",)):
            run(config, *args_)  # compiles the bytecode of what each imports
        samples: dict[str, list[tuple[float, float]]] = {"ack": [], "incident": [], "oncall": [], "import": []}
        samples["interpreter"] = []
        resolve = RESOLVE.format(names=("ack", "incident", "oncall"))
        for incident in ids:  # interleaved, so that a burst of load on the machine hits every command alike
            samples["ack"].append(run(config, "ack", incident, "--as", ADMIN)[:2])
            samples["incident"].append(run(config, "incident", incident)[:2])
            samples["oncall"].append(run(config, "oncall")[:2])
            samples["import"].append(timed([sys.executable, "-c", resolve])[:2])
            samples["interpreter"].append(timed([sys.executable, "-c", "pass"])[:2])
        for name, taken in samples.items():
            result.update(figures(name, taken))
        result["imported"] = " ".join(imported(config, probe)) or "-"
    result["slowest_p50_s"] = max(result[f"{name}_p50_s"] for name in ("ack", "incident", "oncall"))
    result["target_s"] = TARGET_S
    result["target_met"] = result["slowest_p50_s"] <= TARGET_S
    if args.before is not None:
        earlier = json.loads(args.before.read_text(encoding="utf-8"))
        for key in ("date", "slowest_p50_s", "ack_p50_s", "ack_cpu_s", "incident_cpu_s", "oncall_cpu_s", "imported"):
            result[f"before_{key}"] = earlier.get(key)
    finish(result, args.out)


if __name__ == "__main__":
    main()
