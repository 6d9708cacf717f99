"""Roster resolution: who-is-on-call look-ups per second, and how they grow with overrides and age.

1. Baseline: 100 rosters loaded through the real configuration loader from generated YAML (a
   configuration directory in a scratch folder): even ones like rosters/infra.yaml (business hours
   on weekdays, a weekly "astreinte" on nights, weekends and FR holidays, secondary = offset 1), odd
   ones like rosters/dba.yaml (12 h shifts round the clock, a secondary with its own weekly layer),
   across four time zones; each has OVERRIDES overrides in its YAML and STORED more in the database
   (``memoguard override add``'s path: ``Unit.add_override``), all spread across 2026. Look-ups ask
   a random roster, level (primary or secondary) and instant of 2026.
   - domain: ``Roster.oncall`` on the loaded rosters (YAML overrides only);
   - paging: what the engine does each time it decides for an incident (services/escalator.py
     ``Escalator.apply``), the decision's instant being the look-up's: read the stored overrides
     (``with_stored_overrides``, in a read transaction of its own), lay them over the incident's
     roster copy, then ``step_callout`` (domain/paging.py), which calls ``Roster.oncall``.
2. Growth: one infra-style roster with N overrides (0, 100, 1,000, 10,000) of 1 to 4 hours spread
   over nine years (2026-2034), asked at random instants of year 1 (2026: the roster is young and
   most of the N are still to come) and of year 10 (2035: the roster is old and all N are history).
   Domain figures use ``Roster.with_overrides`` on ``Override`` objects built directly, with the
   share of answers an override gave; paging figures store the N overrides in the database (that
   roster's only: the baseline's are removed first). One more domain row adds a single year-long
   override (June 2034 to June 2035, a long leave cover), which widens every look-up's scan of the
   override index to a year of overrides.

    .venv/bin/python bench/roster.py [--overrides 50] [--stored 50] [--budget 0.5] [--database URL]
    .venv/bin/python -m bench.roster

Prints the figures and saves them to bench/results/roster.json. The database must hold no other
overrides (the default is a fresh SQLite file). Target (no figure in DESIGN.md §11): the cost of a
look-up must not grow linearly with the roster's history (its number of overrides, its age).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import arguments, finish, header, scratch
from memoguard import bootstrap
from memoguard.config.model import Config
from memoguard.domain.incident import Incident
from memoguard.domain.paging import step_callout
from memoguard.domain.roster import Override, Roster
from memoguard.services.escalator import with_stored_overrides
from memoguard.services.store import Store

ROSTERS = 100
PEOPLE = 40
ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC")
SIZES = (0, 100, 1_000, 10_000)
YEAR1 = (datetime(2026, 1, 5, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
YEAR10 = (datetime(2035, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC))
HISTORY = (YEAR1[0], YEAR10[0])  # nine years of overrides: all of them in the past in year 10
LEVELS = ("primary", "secondary")
VISIT = (2, 48)  # baseline overrides: from 2 h to 2 days
SWAP = (1, 4)  # growth overrides: 1 to 4 h, so that 10,000 in ten years still leave most instants to the layers

INFRA = """name: {name}
timezone: {zone}
layers:
  - name: business-hours
    members: [{day}]
    shift: 1d
    handoff: "08:30"
    start: 2026-01-05
    active:
      - {{days: [mon, tue, wed, thu, fri], from: "08:30", to: "18:00"}}
  - name: astreinte
    members: [{night}]
    shift: 1w
    handoff: "mon 08:30"
    start: 2026-01-05
    active:
      - {{days: [mon, tue, wed, thu, fri], from: "18:00", to: "08:30"}}
      - {{days: [sat, sun]}}
      - {{days: [mon], to: "08:30"}}
      - {{holidays: FR}}
levels:
  secondary: {{offset: 1}}
"""
DBA = """name: {name}
timezone: {zone}
layers:
  - {{name: shifts, members: [{day}], shift: 12h, handoff: "08:00", start: 2026-01-05}}
levels:
  secondary:
    layers:
      - {{name: backup, members: [{night}], shift: 1w, handoff: "mon 08:00", start: 2026-01-05}}
"""
POLICY = """name: {name}
steps:
  - {{notify: ["roster:{name}"], channels: [sms], ack_within: 5m}}
  - {{notify: ["roster:{name}/secondary"], channels: [sms], ack_within: 10m}}
"""


def instant(rng: random.Random, span: tuple[datetime, datetime]) -> datetime:
    seconds = (span[1] - span[0]).total_seconds()
    return span[0] + timedelta(seconds=int(rng.random() * seconds))


def spread(
    rng: random.Random, count: int, span: tuple[datetime, datetime], people: Sequence[str], hours: tuple[int, int]
) -> list[Override]:
    """``count`` overrides lasting ``hours`` (from, to), starting at random instants of ``span``, a
    quarter of them on the secondary level."""
    found = []
    for _ in range(count):
        start = instant(rng, span).replace(second=0)
        length = timedelta(minutes=rng.randrange(60 * hours[0], 60 * hours[1] + 1, 30))
        level = "secondary" if rng.random() < 0.25 else "primary"
        found.append(Override(rng.choice(people), start, start + length, level))
    return found


def configure(directory: Path, database: str, yaml_overrides: int, rng: random.Random) -> None:
    people = [f"p{i:02d}" for i in range(PEOPLE)]
    lines = [f"database: {database}", "timezone: Europe/Paris", "people:"]
    lines += [f'  {p}: {{phone: "+336123456{i:02d}", language: en, channels: [sms]}}' for i, p in enumerate(people)]
    lines += [
        "routes:",
        "  - {policy: r000}",
        "channels:",
        "  sms: [console]",
        "providers:",
        "  console: {kind: console}",
    ]
    (directory / "rosters").mkdir(parents=True)
    (directory / "escalation_policies").mkdir()
    (directory / "memoguard.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for i in range(ROSTERS):
        name, zone = f"r{i:03d}", ZONES[i % len(ZONES)]
        team = rng.sample(people, 6)
        template = INFRA if i % 2 == 0 else DBA
        text = template.format(
            name=name,
            zone=zone,
            day=", ".join(team[:2] if i % 2 == 0 else team[:3]),
            night=", ".join(team[2:] if i % 2 == 0 else team[3:5]),
        )
        if yaml_overrides:
            text += "overrides:\n"
            for o in spread(rng, yaml_overrides, YEAR1, team, VISIT):
                local = [t.astimezone(ZoneInfo(zone)) for t in (o.start, o.end)]
                text += f"  - {{who: {o.who}, from: '{local[0]:%Y-%m-%d %H:%M}', to: '{local[1]:%Y-%m-%d %H:%M}'"
                text += f", level: {o.level}}}\n"
        (directory / "rosters" / f"{name}.yaml").write_text(text, encoding="utf-8")
        (directory / "escalation_policies" / f"{name}.yaml").write_text(POLICY.format(name=name), encoding="utf-8")


def rate(work: Callable[[Any], object], queries: Sequence[Any], budget: float, rounds: int = 5) -> float:
    """Calls per second of ``work`` over ``queries`` (cycled): the best of ``rounds`` rounds sharing
    ``budget`` seconds, each of at least 3 calls (the best round is the one least disturbed by whatever
    else the machine runs)."""
    for query in queries[:3]:  # warm-up: holiday tables, zone caches, the connection pool
        work(query)
    best, position = 0.0, 0
    for _ in range(rounds):
        count, started = 0, time.perf_counter()
        deadline = started + budget / rounds
        while True:
            work(queries[position % len(queries)])
            position += 1
            count += 1
            now = time.perf_counter()
            if now >= deadline and count >= 3:
                break
        best = max(best, count / (now - started))
    return best


def override_share(roster: Roster, queries: Sequence[tuple[str, datetime]]) -> float:
    """Percentage of ``queries`` (level, instant) that an override answers."""
    answers = [roster.oncall(at, level) for level, at in queries]
    return round(100 * sum(1 for a in answers if a and a.source.startswith("override")) / len(queries), 1)


def paging(store: Store) -> Callable[[tuple[Incident, int, datetime]], object]:
    """The roster part of ``Escalator.apply``: stored overrides laid over the copy, then the step's callout,
    the decision's instant being the look-up's."""

    def page(query: tuple[Incident, int, datetime]) -> object:
        incident, step, at = query
        with store.read() as unit:
            live = with_stored_overrides(unit, incident, at)
        callout = step_callout(live, step, at)
        assert callout.people or callout.problems
        return callout

    return page


def store_overrides(store: Store, roster: str, overrides: Sequence[Override]) -> list[int]:
    now = datetime.now(UTC)
    with store.write() as unit:
        return [unit.add_override(roster, o.who, o.start, o.end, o.level, "bench", now) for o in overrides]


def remove_overrides(store: Store, ids: Sequence[int]) -> None:
    with store.write() as unit:
        for override in ids:
            unit.remove_override(override)


def baseline(config: Config, store: Store, stored: int, budget: float, rng: random.Random) -> dict[str, Any]:
    """100 rosters, a year: the domain look-up, then the paging path with STORED overrides per roster."""
    result: dict[str, Any] = {}
    rosters = [config.roster(f"r{i:03d}") for i in range(ROSTERS)]
    queries = [(rng.choice(rosters), rng.choice(LEVELS), instant(rng, YEAR1)) for _ in range(5000)]
    result["domain_lookups_per_s"] = round(rate(lambda q: q[0].oncall(q[2], q[1]), queries, budget))
    incidents = [Incident(str(i), "bench", config.policy(r.name), (r,), YEAR1[0]) for i, r in enumerate(rosters)]
    ids: list[int] = []
    for roster in rosters:
        members = sorted({m for layer in roster.layers for m in layer.members})
        ids += store_overrides(store, roster.name, spread(rng, stored, YEAR1, members, VISIT))
    calls = [(rng.choice(incidents), rng.randrange(2), instant(rng, YEAR1)) for _ in range(5000)]
    result["paging_stored_overrides_total"] = len(ids)
    result["paging_lookups_per_s"] = round(rate(paging(store), calls, budget), 1)
    remove_overrides(store, ids)
    result["paging_no_stored_overrides_lookups_per_s"] = round(rate(paging(store), calls, budget), 1)
    return result


def growth(config: Config, store: Store, budget: float, rng: random.Random) -> dict[str, Any]:
    """One infra-style roster (r000 without its YAML overrides), N overrides, year 1 and year 10."""
    result: dict[str, Any] = {}
    first = config.roster("r000")
    base = Roster(first.name, first.timezone, first.layers, first.levels)
    members = sorted({m for layer in base.layers for m in layer.members})
    history = spread(rng, SIZES[-1], HISTORY, members, SWAP)
    years = {
        year: [(rng.choice(LEVELS), instant(rng, span)) for _ in range(5000)]
        for year, span in (("year1", YEAR1), ("year10", YEAR10))
    }
    leave = Override(members[0], datetime(2034, 6, 1, tzinfo=UTC), datetime(2035, 6, 1, tzinfo=UTC))
    for size in SIZES:
        roster = base.with_overrides(history[:size])
        for year, asks in years.items():
            figure = rate(lambda q, r=roster: r.oncall(q[1], q[0]), asks, budget)
            result[f"domain_{size}_overrides_{year}_lookups_per_s"] = round(figure)
            result[f"domain_{size}_overrides_{year}_answered_by_override_percent"] = override_share(roster, asks)
        roster = base.with_overrides([leave, *history[:size]])
        for year, asks in years.items():
            figure = rate(lambda q, r=roster: r.oncall(q[1], q[0]), asks, budget)
            result[f"domain_{size}_overrides_plus_1y_leave_{year}_lookups_per_s"] = round(figure)
    incident = Incident("1", "bench", config.policy(base.name), (base,), YEAR1[0])
    ids: list[int] = []
    for size in SIZES:
        ids += store_overrides(store, base.name, history[len(ids) : size])
        for year, asks in years.items():
            steps = [(incident, LEVELS.index(level), at) for level, at in asks]
            result[f"paging_{size}_stored_{year}_lookups_per_s"] = round(rate(paging(store), steps, budget), 1)
    remove_overrides(store, ids)
    low, high = SIZES[0], SIZES[-1]
    for path, what in (("domain", "overrides"), ("paging", "stored")):
        for year in years:
            most = result[f"{path}_{high}_{what}_{year}_lookups_per_s"]
            slowdown = result[f"{path}_{low}_{what}_{year}_lookups_per_s"] / most if most else None
            result[f"{path}_slowdown_{low}_to_{high}_{year}"] = round(slowdown, 2) if slowdown else None
    return result


def run(yaml_overrides: int, stored: int, budget: float, database: str | None, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    result = header("roster", database=database)
    with scratch() as work:
        config_dir = work / "config"
        configure(config_dir, database or f"sqlite:///{work / 'bench.db'}", yaml_overrides, rng)
        started = time.perf_counter()
        config = bootstrap.load(config_dir)
        result |= {
            "rosters": ROSTERS,
            "yaml_overrides_per_roster": yaml_overrides,
            "stored_overrides_per_roster": stored,
            "config_load_seconds": round(time.perf_counter() - started, 2),
            "budget_seconds_per_figure": budget,
        }
        store = bootstrap.store(config)
        try:
            result |= baseline(config, store, stored, budget, rng)
            result |= growth(config, store, budget, rng)
        finally:
            store.close()
    return result


def main() -> None:
    parser = arguments(__doc__, "roster")
    parser.add_argument("--overrides", type=int, default=50, help="YAML overrides per roster in the baseline")
    parser.add_argument("--stored", type=int, default=50, help="database overrides per roster in the baseline")
    parser.add_argument("--budget", type=float, default=0.5, help="seconds spent measuring each figure")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    finish(run(args.overrides, args.stored, args.budget, args.database, args.seed), args.out)


if __name__ == "__main__":
    main()
