"""The storage port on SQLAlchemy Core over the sqlmodel tables, for SQLite and PostgreSQL.

A ``SqlUnit`` is one transaction, made of one half per concern: alarms, incidents and the timeline
(``incident.py``), timers (``timer.py``), overrides (``override.py``), the outbox, rate-limit log and
bundles (``outbox.py``, its claims in ``claim.py``), SMS (``sms.py``), engine heartbeats
(``beat.py``), personal API tokens and the audit trail (``access.py``), heartbeats (dead man's
switches) and silences (``deadman.py``). ``SqlStore`` opens units: on
SQLite one writer at a time (``BEGIN IMMEDIATE``, behind the process's writer turns), on PostgreSQL any
number, which lock what they decide on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from memoguard.adapters.storage.access import SqlAccess
from memoguard.adapters.storage.batch import Batch
from memoguard.adapters.storage.beat import SqlBeats
from memoguard.adapters.storage.claim import Claimant
from memoguard.adapters.storage.database import SQLITE_BUSY_TIMEOUT_MS, unreachable
from memoguard.adapters.storage.deadman import SqlDeadman
from memoguard.adapters.storage.gauge import SqlGauges
from memoguard.adapters.storage.incident import SnapshotCache, SqlIncidents, alarm_t, incident_t
from memoguard.adapters.storage.outbox import SqlOutbox
from memoguard.adapters.storage.override import SqlOverrides
from memoguard.adapters.storage.selftest import SqlSelfTest
from memoguard.adapters.storage.signin import SqlSignin
from memoguard.adapters.storage.sms import SqlSms
from memoguard.adapters.storage.timer import SqlTimers
from memoguard.adapters.storage.turn import Turns
from memoguard.services.record import StoredOverride
from memoguard.services.store import StoreUnavailable

__all__ = ["WAKEUP_CHANNEL", "SqlStore", "SqlUnit", "WriterBusy", "alarm_t", "incident_t"]

log = logging.getLogger(__name__)

WAKEUP_CHANNEL = "memoguard_wakeup"


class SqlUnit(
    SqlIncidents,
    SqlTimers,
    SqlOverrides,
    SqlOutbox,
    SqlSms,
    SqlBeats,
    SqlAccess,
    SqlDeadman,
    SqlGauges,
    SqlSignin,
    SqlSelfTest,
):
    """One transaction (see ``memoguard.services.store.Unit``)."""

    _c: Batch  # type: ignore[assignment]  # a Connection to the mixins: Batch has what they use

    def __init__(self, connection: Connection, snapshots: SnapshotCache, claimant: Claimant, *, writing: bool) -> None:
        self._c = Batch(connection)
        self._claimant = claimant
        self._snapshots = snapshots
        self._postgres = connection.dialect.name == "postgresql"
        self._writing = writing
        self._overrides: dict[tuple[str, datetime], list[StoredOverride]] = {}
        self.woke = False

    def ping(self) -> None:
        self._c.execute(text("SELECT 1"))

    def flush(self) -> None:
        """Send the held writes (before the commit)."""
        self._c.flush()


@contextmanager
def _outage() -> Iterator[None]:
    """A unit that could not reach the database, or lost its session, raises the port's
    ``StoreUnavailable`` (the driver's error chained): callers retry it rather than treat it as a bug."""
    try:
        yield
    except DBAPIError as error:
        if unreachable(error):
            raise StoreUnavailable(f"database unreachable: {str(error.orig).strip().splitlines()[0]}") from error
        raise


class WriterBusy(RuntimeError):
    """Another thread held SQLite's write lock longer than the busy timeout."""


class SqlStore:
    """``memoguard.services.store.Store`` on one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._snapshots = SnapshotCache()
        self.claimant = Claimant(engine)  # this process's name in outbox claims (claim.py)
        self._subscribers: list[Callable[[], None]] = []
        # SQLite has one writer. Threads of this process queue here, in turn, rather than on SQLite's busy
        # handler, which polls with sleeps of up to 100 ms: under concurrent writes that sleeping, not the
        # work, set the pace. Other processes (the CLI) still meet busy_timeout.
        self._sqlite_writer = Turns() if not self.postgres else None

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[SqlUnit]:
        with _outage(), self._writer(), self.engine.connect() as connection, connection.begin():
            unit = SqlUnit(connection, self._snapshots, self.claimant, writing=True)
            yield unit
            unit.flush()
            if unit.woke and self.postgres:
                # Delivered to listeners at commit, and only if the transaction commits.
                connection.execute(text(f"NOTIFY {WAKEUP_CHANNEL}"))
        if unit.woke:
            self._wake()

    @contextmanager
    def _writer(self) -> Iterator[None]:
        if self._sqlite_writer is None:
            yield
            return
        if not self._sqlite_writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise WriterBusy(f"the SQLite write lock was held by another thread for {SQLITE_BUSY_TIMEOUT_MS // 1000}s")
        try:
            yield
        finally:
            self._sqlite_writer.release()

    def writers_waiting(self) -> int:
        """Transactions waiting for a lock: this process's threads queued for SQLite's writer, or on
        PostgreSQL every session of this database waiting for a lock (tests, diagnostics)."""
        if self._sqlite_writer is not None:
            return self._sqlite_writer.waiting
        with self.engine.connect() as connection:
            query = text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return int(connection.execute(query).scalar_one())

    @contextmanager
    def read(self) -> Iterator[SqlUnit]:
        with _outage(), self.engine.connect() as raw:
            connection = raw.execution_options(sqlite_begin="DEFERRED")
            with connection.begin():
                yield SqlUnit(connection, self._snapshots, self.claimant, writing=False)

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._subscribers.append(callback)

    def _wake(self) -> None:
        for callback in self._subscribers:
            callback()

    def wake_from_elsewhere(self) -> None:
        """Another process committed timers or notifications (PostgreSQL NOTIFY)."""
        self._wake()

    def ping(self) -> None:
        with self.read() as unit:
            unit.ping()

    def close(self) -> None:
        self.claimant.close()
        self.engine.dispose()
