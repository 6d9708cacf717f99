"""Several ``memoguard serve`` on one PostgreSQL database, escalating while one of them dies or while
the database drops their sessions: the scenario shared by tests/e2e/test_ha.py and bench/ha.py.

Each instance has its own configuration directory (the same configuration, its own ``pages.jsonl`` and
its own ``application_name``, so the pages say who sent them and the database says whose session is
whose). Nobody acknowledges: every incident walks a policy of three steps of ``step`` seconds, and the
figures are read from what was paged (the console's JSON lines) and from the database (when each page
was drafted).

Timer lateness is read from the notification rows: the page of step k+1 is drafted by the decision
that fired step k's timer, which was due ``step`` seconds after the decision that drafted step k's page.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tests.e2e.service import Service, e2e_config

SCRIPTS = {"Authorization": "Bearer scripts-e2e"}
STEPS = 3


def configure(work: Path, url: str, name: str, step: float) -> Path:
    """Instance ``name``'s configuration directory: the e2e configuration with a three-step policy."""
    separator = "&" if "?" in url else "?"
    config = e2e_config(work / name, f"{url}{separator}application_name=memoguard-{name}")
    ack = f"{step:g}s"
    (config / "escalation_policies" / "fast.yaml").write_text(
        "name: fast\nacknowledgement: {mode: single}\nsteps:\n"
        f"  - {{notify: ['roster:ops'], channels: [sms], ack_within: {ack}}}\n"
        f"  - {{notify: ['roster:ops/secondary'], channels: [sms], ack_within: {ack}}}\n"
        "  - {notify: ['person:dave'], channels: [sms], ack_within: 1h}\n",
        encoding="utf-8",
    )
    return config


def post(client: httpx.Client, service: Service, key: str) -> bool:
    """One alarm; True only on a 2xx (what an alarm source counts as delivered)."""
    body = {"dedup_key": key, "summary": f"ha test {key}", "severity": "critical"}
    try:
        answer = client.post(f"{service.url}/api/v1/alarms", json=body, headers=SCRIPTS, timeout=10)
    except httpx.TransportError:
        return False
    return 200 <= answer.status_code < 300


@dataclass
class Poster:
    """Posts ``count`` alarms at ``rate``/s round-robin over the instances, in a thread. An alarm refused
    or unanswered by one instance is offered to the next, as a source configured with several URLs does,
    for up to ``patience`` seconds (an alarm source retries); ``accepted`` holds the keys that got a 2xx."""

    services: list[Service]
    count: int
    rate: float
    prefix: str = "ha"
    patience: float = 60.0
    accepted: list[str] = field(default_factory=list)
    refused: int = 0
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ha-poster", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"posting {self.count} alarms took more than {timeout}s")

    def _run(self) -> None:
        start = time.monotonic()
        with httpx.Client() as client:
            for i in range(self.count):
                key = f"{self.prefix}-{i}"
                give_up = time.monotonic() + self.patience
                turn = 0
                while time.monotonic() < give_up:
                    if post(client, self.services[(i + turn) % len(self.services)], key):
                        self.accepted.append(key)
                        break
                    self.refused += 1
                    turn += 1
                    time.sleep(0.05)
                pause = start + (i + 1) / self.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)


class Outage:
    """Cuts every instance off the database without touching the server, which other databases share:
    ``drop`` terminates every session of the database (what a server restart or a network cut does to
    them); ``close`` also keeps new sessions out (``ALLOW_CONNECTIONS false``) until ``open``: the database
    is unreachable meanwhile. It works from a session on the server's ``postgres`` maintenance database
    (PostgreSQL refuses to close a database to new sessions from a session on it), in AUTOCOMMIT."""

    def __init__(self, url: str) -> None:
        target = sa.make_url(url)
        self._name = str(target.database)
        self._engine = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self._connection = self._engine.connect()
        self.dropped = 0  # how many times sessions were dropped

    def drop(self) -> int:
        ended = self._connection.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": self._name},
        ).scalar_one()
        self.dropped += 1
        return int(ended)

    def close(self) -> None:
        self._allow(False)
        self.drop()

    def open(self) -> None:
        self._allow(True)

    def _allow(self, allowed: bool) -> None:
        quoted = self._connection.dialect.identifier_preparer.quote(self._name)
        self._connection.execute(sa.text(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS {str(allowed).lower()}"))

    def __enter__(self) -> Outage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.open()  # whatever happened: the next test (or session) must get in
        self._connection.close()
        self._engine.dispose()


def all_pages(services: list[Service]) -> list[dict[str, Any]]:
    """Every page line of every instance, each marked with the instance (``by``) that sent it."""
    lines = []
    for service in services:
        for page in service.pages():
            if page["purpose"] == "page":
                lines.append({**page, "incident": int(page["incident"]), "by": service.config.parent.name})
    return lines


def stored_incidents(url: str) -> dict[str, int]:
    """dedup key → incident id, from the database."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(sa.text("SELECT dedup_key, id FROM incident"))
            return {str(r.dedup_key): int(r.id) for r in rows}
    finally:
        engine.dispose()


def dropped_pages(url: str) -> int:
    """Pages cancelled unsent because their step was over by their turn (domain/stage.py): what a
    dispatcher falling further behind than a step lasts shows as."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            query = "SELECT count(*) FROM notification WHERE purpose = 'page' AND status = 'cancelled'"
            return int(c.execute(sa.text(query + " AND error LIKE 'not sent: step%'")).scalar_one())
    finally:
        engine.dispose()


def drafted(url: str) -> dict[tuple[int, int], list[tuple[int, datetime]]]:
    """(incident, step counted from 1) → its page rows (id, drafted at), from the database."""
    engine = sa.create_engine(url)
    found: dict[tuple[int, int], list[tuple[int, datetime]]] = defaultdict(list)
    try:
        with engine.connect() as c:
            rows = c.execute(
                sa.text("SELECT id, incident_id, step, created_at FROM notification WHERE purpose = 'page'")
            )
            for r in rows:
                found[(int(r.incident_id), int(r.step) + 1)].append((int(r.id), r.created_at))
    finally:
        engine.dispose()
    return found


def every_step_paged(services: list[Service], incidents: int) -> Callable[[], bool]:
    def check() -> bool:
        steps = {(p["incident"], p["step"]) for p in all_pages(services)}  # an incident's id is a string there
        return len(steps) >= incidents * STEPS

    return check


def settle(check: Callable[[], bool], timeout: float) -> bool:
    """Wait until ``check`` holds or ``timeout`` seconds passed; whether it held."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@dataclass
class Outcome:
    """What one run paged, judged: the figures the test asserts on and the benchmark saves."""

    accepted: int
    stored: int
    missing: list[str]
    pages: int
    unpaged: list[tuple[int, int]]  # (incident, step) never paged
    steps_paged_twice: dict[tuple[int, int], list[int]]  # two different pages for one step
    repeats: dict[int, int]  # page id → times it was sent, for those sent more than once
    lateness_after: list[float]  # seconds each timer due after ``since`` fired late
    send_after: list[float]  # seconds from drafted to sent, for pages drafted after ``since``
    catch_up: float | None  # seconds from ``since`` to the send of the last page due before it
    dropped: int  # pages cancelled unsent because their step was over when their turn came (overload)
    survivor_pages: Counter[str]

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.repeats.values())


def judge(url: str, services: list[Service], accepted: list[str], step: float, since: float) -> Outcome:
    """Compare what was accepted with what was stored and paged; ``since`` is a Unix time (the kill)."""
    stored = stored_incidents(url)
    missing = [key for key in accepted if key not in stored]
    pages = all_pages(services)
    rows = drafted(url)
    sent_ids = Counter(p["id"] for p in pages)
    sent_at: dict[int, float] = {}
    for p in pages:
        at = datetime.fromisoformat(p["time"]).timestamp()
        sent_at[p["id"]] = min(at, sent_at.get(p["id"], at))
    ids: dict[tuple[int, int], set[int]] = defaultdict(set)
    for p in pages:
        ids[(p["incident"], p["step"])].add(p["id"])
    unpaged = [(i, s) for i in sorted(stored.values()) for s in range(1, STEPS + 1) if not ids.get((i, s))]
    lateness = []
    for (incident, number), drafts in rows.items():
        if number == 1:
            continue
        earlier = rows.get((incident, number - 1))
        if not earlier:
            continue
        due = min(at for _, at in earlier).timestamp() + step
        if due >= since:
            lateness.append(min(at for _, at in drafts).timestamp() - due)
    send_after = [
        sent_at[page] - at.timestamp()
        for drafts in rows.values()
        for page, at in drafts
        if at.timestamp() >= since and page in sent_at
    ]
    backlog = [
        sent_at[page]
        for drafts in rows.values()
        for page, at in drafts
        if at.timestamp() < since <= sent_at.get(page, 0)
    ]
    return Outcome(
        accepted=len(accepted),
        stored=len(stored),
        missing=missing,
        pages=len(pages),
        unpaged=unpaged,
        steps_paged_twice={key: sorted(found) for key, found in ids.items() if len(found) > 1},
        repeats={page: count for page, count in sent_ids.items() if count > 1},
        lateness_after=lateness,
        send_after=send_after,
        catch_up=max(backlog) - since if backlog else None,
        dropped=dropped_pages(url),
        survivor_pages=Counter(p["by"] for p in pages if sent_at[p["id"]] >= since),
    )
