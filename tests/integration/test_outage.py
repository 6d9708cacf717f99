"""The database out of reach, dropping sessions (a restart, a failover, a network cut), or behind several
hosts. The store says the first two with the port's ``StoreUnavailable``, and the engine's loops treat it
as an outage to wait out, not as a bug. Found by tests/e2e/test_ha.py, where sessions dropped under load
made a timer a minute late (it was postponed as a failing decision's) and a page's step pass unpaged (its
rows given back a lease later).

The PostgreSQL cases drop real sessions (``pg_terminate_backend``); the engine cases use a store that
wraps the real one and has the database drop the session at the commit of chosen transactions, on both
backends: the transaction then really rolls back. A multi-host URL (a primary and its standbys,
``target_session_attrs=read-write``) must reach the writable host for every session memoguard opens."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from memoguard import bootstrap
from memoguard.adapters.storage.database import DatabaseUrlError, open_engine
from memoguard.adapters.storage.store import WAKEUP_CHANNEL, SqlStore
from memoguard.adapters.template import TemplateRenderer
from memoguard.domain.event import TimerKind
from memoguard.services.dispatch import LEASE, Dispatcher
from memoguard.services.record import Alarm, AlarmStatus
from memoguard.services.store import Store, StoreUnavailable, Unit
from memoguard.services.timer import Timers
from tests.conftest import FakeClock
from tests.support.delivery import CONSOLE_ONLY, PENDING, SEED, SENT, Builder


class DroppingStore:
    """The real store, except that the database drops the session at the commit of the write
    transactions numbered in ``drop_at`` (counted from 1): the transaction rolls back and the caller
    gets ``StoreUnavailable``, as from a session terminated by a restart."""

    def __init__(self, store: Store, drop_at: set[int]) -> None:
        self._store = store
        self._drop_at = drop_at
        self.writes = 0

    @contextmanager
    def write(self) -> Iterator[Unit]:
        self.writes += 1
        with self._store.write() as unit:
            yield unit
            if self.writes in self._drop_at:
                raise StoreUnavailable("database unreachable: the session was dropped (test)")

    def read(self) -> AbstractContextManager[Unit]:
        return self._store.read()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_database_that_cannot_be_reached_is_store_unavailable() -> None:
    store = SqlStore(open_engine("postgresql+psycopg://memoguard@127.0.0.1:1/nothing_listens_here"))
    try:
        with pytest.raises(StoreUnavailable, match="database unreachable: connection failed"):
            store.ping()
    finally:
        store.close()


def test_sqlite_errors_are_not_taken_for_an_outage(tmp_path: Path) -> None:
    """A file that cannot be opened is a configuration or disk problem, reported as such."""
    store = SqlStore(open_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'memoguard.db'}"))
    try:
        with pytest.raises(OperationalError, match="unable to open database file"):
            store.ping()
    finally:
        store.close()


def test_a_session_dropped_mid_transaction_is_store_unavailable_and_the_store_reconnects(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL sessions only: SQLite has none to drop")
    store = SqlStore(open_engine(database_url))
    admin = create_engine(database_url)
    try:
        with (
            pytest.raises(StoreUnavailable, match="terminating connection due to administrator command"),
            store.read() as unit,
        ):
            with admin.begin() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            unit.ping()
        store.ping()  # the next unit gets a fresh session
    finally:
        store.close()
        admin.dispose()


def test_a_session_dropped_before_held_writes_are_sent_is_store_unavailable(store: SqlStore, database_url: str) -> None:
    # The held writes go in one pipeline (adapters/storage/batch.py), whose errors come at its end, outside
    # SQLAlchemy: a lost session must still read as an outage, and the next unit get a fresh session.
    if not store.postgres:
        pytest.skip("PostgreSQL sessions only: SQLite has none to drop")
    at = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    admin = create_engine(database_url)
    try:
        with pytest.raises(StoreUnavailable, match="database unreachable"), store.write() as unit:
            for _ in range(2):  # two statements, so that they go in a pipeline
                unit.add_entry("1", at, "note", "held", None)
                unit.add_timer("1", TimerKind.ACK_TIMEOUT, at, 1)
            with admin.begin() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
        store.ping()  # the next unit gets a fresh session
    finally:
        admin.dispose()


def _alarm(key: str) -> Alarm:
    return Alarm("monitoring", key, AlarmStatus.FIRING, "critical", f"disk full on {key}")


def test_a_timer_whose_session_is_dropped_is_not_postponed_but_fires_next_round(
    service_dir: Path, fake_clock: FakeClock
) -> None:
    app = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    try:
        [receipt] = app.ingest.receive([_alarm("db-1")])
        incident = receipt.incident
        assert incident is not None
        with app.store.read() as unit:
            [timer] = unit.timers(incident)
        fake_clock.advance(timedelta(hours=1))
        # The batch and the retry of it one by one both lose their session at the commit.
        dropping = DroppingStore(app.store, drop_at={1, 2})
        timers = Timers(dropping, fake_clock, app.escalator)

        with pytest.raises(StoreUnavailable):
            timers.fire_due()

        assert dropping.writes == 1  # no retry one by one against a database that is gone
        with app.store.read() as unit:
            assert [t.due_at for t in unit.timers(incident)] == [timer.due_at]  # not postponed by a minute
            assert "timer_error" not in [e.kind for e in unit.timeline(incident)]
        assert app.timers.fire_due() == 1  # the database is back: it fires at once
        with app.store.read() as unit:
            assert "ack_timeout" in [e.kind for e in unit.timeline(incident)]
    finally:
        app.store.close()


def test_a_page_whose_session_is_dropped_goes_back_to_the_queue_due_at_once(build: Builder) -> None:
    """Given back a lease later (as after a bug), a page outlived its step and was dropped unsent."""
    w = build(CONSOLE_ONLY, storm="storm: {pages: 0}\n")
    [incident] = w.open("db-1")
    config = w.app.config
    dropping = DroppingStore(w.app.store, drop_at={2})  # 1: the round's claims; 2: the pre-send check
    dispatcher = Dispatcher(
        dropping,
        w.clock,
        config.people,
        bootstrap.delivery(config),
        w.providers,
        w.app.escalator,
        TemplateRenderer(),
        random.Random(SEED),
    )

    dispatcher.drain()

    assert w.providers["console"].calls == []
    [row] = w.rows(incident)
    assert (row.status, row.not_before) == (PENDING, w.clock.now())
    assert row.not_before < w.clock.now() + LEASE
    w.settle()  # the same instant
    assert [r.status for r in w.rows(incident)] == [SENT]


def test_several_hosts_in_libpq_form_are_refused_with_the_form_to_use() -> None:
    with pytest.raises(DatabaseUrlError, match=r"give each as a host= query parameter: .*target_session_attrs"):
        open_engine("postgresql+psycopg://memoguard@db1:5432,db2:5432/memoguard")


def _several_hosts(database_url: str) -> str:
    """``database_url`` behind a host where nothing listens, as a failed primary is, with the session
    required to be writable: what a failover-aware URL looks like."""
    url = make_url(database_url)
    return url.set(
        host=None,
        port=None,
        query={"host": ("127.0.0.1:1", f"{url.host}:{url.port or 5432}"), "target_session_attrs": "read-write"},
    ).render_as_string(hide_password=False)


def test_a_multi_host_url_reaches_the_writable_primary_for_every_session(
    database_url: str, service_dir: Path, fake_clock: FakeClock
) -> None:
    """The store, its claimant session and the LISTEN session all skip the dead host; an alarm is taken."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several hosts are a PostgreSQL URL")
    several = _several_hosts(database_url)
    main = service_dir / "memoguard.yaml"
    main.write_text(main.read_text(encoding="utf-8").replace(database_url, several, 1), encoding="utf-8")
    config = bootstrap.load(service_dir)
    assert config.database_url == several
    app = bootstrap.application(config, fake_clock)
    woken = threading.Event()
    listening = bootstrap.listener(app)
    assert listening is not None
    try:
        app.store.subscribe(woken.set)
        listening.start()
        [receipt] = app.ingest.receive([_alarm("db-1")])
        assert receipt.incident is not None
        woken.clear()
        other = create_engine(database_url)  # another process's commit: NOTIFY
        with other.begin() as connection:
            connection.execute(text(f"NOTIFY {WAKEUP_CHANNEL}"))
        other.dispose()
        assert woken.wait(30), "the LISTEN session of a multi-host URL never heard the NOTIFY"
    finally:
        listening.stop()
        app.store.close()
