"""Run every benchmark, one after the other, each in its own process, then print the summary table.

    .venv/bin/python -m bench                       # SQLite (a fresh file for each script)
    .venv/bin/python -m bench --postgresql URL      # also on PostgreSQL (an empty database; it is written to)
    .venv/bin/python -m bench --only ingest,latency # some of them
    .venv/bin/python -m bench --table               # only print the table of the saved figures
    .venv/bin/python -m bench --table --readme      # and write it into README.md between its markers

Figures are saved under bench/results/ (``<name>.json``, ``<name>-postgresql.json``). The table is the one
the README's Performance section shows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT
from bench.summary import POSTGRESQL_ONLY, table

# (script, uses a database); in the order they run.
SCRIPTS = [
    ("roster", False),
    ("ingest", True),
    ("hotspot", True),
    ("latency", True),
    ("timer", True),
    ("restart", True),
    ("startup", True),
    ("cli", True),
    ("storm", True),
    ("memory", True),
    ("dispatch", True),
    ("smpp", True),
    ("twilio", True),
    ("takeover", True),
    ("ha", True),
]


START, END = "<!-- bench:table -->", "<!-- /bench:table -->"


def write_readme(text: str) -> None:
    """Replace what lies between the README's table markers."""
    readme = ROOT / "README.md"
    content = readme.read_text(encoding="utf-8")
    if START not in content or END not in content:
        raise SystemExit(f"README.md has no {START} … {END} markers")
    head, rest = content.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
    print("README.md table updated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", metavar="URL", help="also run the database benchmarks on this database")
    parser.add_argument("--only", help="comma-separated script names (default: all)")
    parser.add_argument("--table", action="store_true", help="print the table of the saved figures and stop")
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = parser.parse_args()
    failed: list[str] = []
    if not args.table:
        chosen = args.only.split(",") if args.only else [name for name, _ in SCRIPTS]
        unknown = sorted(set(chosen) - {name for name, _ in SCRIPTS})
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(n for n, _ in SCRIPTS)})")
        for name, storage in SCRIPTS:
            if name not in chosen:
                continue
            runs: list[list[str]] = [] if name in POSTGRESQL_ONLY else [[]]
            if storage and args.postgresql:
                runs.append([f"--database={args.postgresql}", f"--out={RESULTS / f'{name}-postgresql.json'}"])
            for extra in runs:
                print(f"== bench/{name}.py {' '.join(extra)}", flush=True)
                started = time.monotonic()
                done = subprocess.run([sys.executable, "-m", f"bench.{name}", *extra], cwd=ROOT, check=False)
                print(f"== {name}: {time.monotonic() - started:.0f} s, exit {done.returncode}", flush=True)
                if done.returncode != 0:
                    failed.append(name)
        if failed:
            print(f"failed: {', '.join(failed)}", file=sys.stderr)
    print(table())
    if args.readme:
        write_readme(table())
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
