"""SQLAlchemy engines for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit survives a crash of the process and of the
machine, which is what a 2xx to an alarm source promises. pysqlite's own transaction handling is turned
off so that a writing transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up front, so
two writers queue on ``busy_timeout`` instead of failing half-way with "database is locked".
PostgreSQL sessions ask the server for TCP keepalives, so the session of a host that vanished is dropped
within half a minute rather than the system's two hours.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseUrlError(ValueError):
    pass


# Several PostgreSQL hosts (a primary and its standbys, for a failover): libpq's "h1:5432,h2:5432" in the
# authority is not a URL SQLAlchemy reads; each host goes in the query instead, and the session must land
# on the writable primary.
SEVERAL_HOSTS = "postgresql+psycopg://USER@/DB?host=H1:5432&host=H2:5432&target_session_attrs=read-write"


def open_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        authority = url.partition("://")[2].partition("/")[0]
        if url.startswith("postgresql") and "," in authority:
            raise DatabaseUrlError(
                f"database URL: several hosts in 'HOST:PORT,HOST:PORT' form are not read; give each as a"
                f" host= query parameter: {SEVERAL_HOSTS}"
            ) from None
        raise DatabaseUrlError(
            f"invalid database URL {url!r}: expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(url)
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise DatabaseUrlError(f"database URL {url!r}: use the psycopg driver, postgresql+psycopg://…")
        return _postgresql(url)
    raise DatabaseUrlError(f"database URL {url!r}: only sqlite:/// and postgresql+psycopg:// are supported")


# Seconds of silence, then between probes, and probes lost before PostgreSQL drops the session of a host
# that vanished without closing its connection (a killed process closes it at once): its transactions
# roll back (claimed timers come back, incident locks go) and its outbox claims are taken over.
KEEPALIVE = (10, 5, 3)


def _postgresql(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        idle, interval, count = KEEPALIVE
        cursor = dbapi_connection.cursor()
        for name, value in (("idle", idle), ("interval", interval), ("count", count)):
            cursor.execute(f"SET tcp_keepalives_{name} = {value}")
        cursor.close()
        dbapi_connection.commit()  # a SET inside a transaction rolled back would be undone

    return engine


def connect_arguments(url: str) -> dict[str, Any]:
    """``psycopg.connect``'s keywords for a postgresql+psycopg URL, as the engine's own sessions get them
    (several ``host=`` included: a plain ``postgresql://`` rewrite of the URL loses them)."""
    factory: Any = PGDialect_psycopg  # untyped in SQLAlchemy
    dialect = factory()
    _, arguments = dialect.create_connect_args(make_url(url))
    return dict(arguments)


# SQLSTATE classes of a session lost or refused: connection exceptions (08…), and operator intervention
# (57P01 terminated by an administrator, 57P02 crash shutdown, 57P03 cannot connect now).
_LOST = ("08", "57P")


def unreachable(error: DBAPIError) -> bool:
    """Whether ``error`` says the PostgreSQL database cannot be reached or dropped the session, rather
    than refused a statement: SQLAlchemy saw a disconnect, or the driver's error is a connection failure
    (no SQLSTATE: libpq's own "connection refused", "not accepting connections") or of a lost session's
    class. SQLite's errors are never taken for this (a locked or unwritable file is not an outage)."""
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError) or type(error.orig).__module__.startswith("sqlite3"):
        return False
    state = getattr(error.orig, "sqlstate", None)
    return state is None or str(state).startswith(_LOST)


def _sqlite(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
