"""Write combining for one transaction: inserts and updates whose result nobody reads are held back and
sent as one executemany with the next ones of the same statement.

Every other statement, a savepoint and the commit send what is held first, in order, so the database
sees the same statements in the same order as without combining: a read always sees the writes made
before it. A held write that fails raises at that later point, still inside its transaction, which then
rolls back as a whole. Profile (bench/hotspot.py): on SQLite a statement's bookkeeping in SQLAlchemy
costs several times what SQLite spends, so a group of 100 alarms, each adding a timeline line, paid it
100 times.

On PostgreSQL the held statements go in one pipeline (psycopg's pipeline mode): the server gets them
all and answers once, instead of one round trip each. A timer batch's decisions alternate statements
(cancel timers, timeline, outbox, incident, next timer), which executemany cannot combine: one round trip
per statement was most of the time a batch took (bench/hotspot.py, PostgreSQL). An error the server
raises in a pipeline comes at its end, here, translated as SQLAlchemy would (a lost session invalidates
the connection and reads as an outage: database.unreachable).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Executable, Insert
from sqlalchemy.engine import Connection, CursorResult, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.util.typing import TupleAny, Unpack


class Batch:
    """The transaction's connection, with held writes."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._held: list[tuple[Executable, list[Mapping[str, Any]]]] = []

    @property
    def dialect(self) -> Dialect:
        return self._c.dialect

    def hold(self, statement: Executable, values: Mapping[str, Any]) -> None:
        """Run ``statement`` with ``values`` before anything else reaches the database."""
        if self._held and self._held[-1][0] is statement:
            self._held[-1][1].append(values)
        else:
            self._held.append((statement, [values]))

    def flush(self) -> None:
        held, self._held = self._held, []
        if len(held) > 1 and self._c.dialect.name == "postgresql":
            self._pipelined(held)
            return
        for statement, rows in held:
            self._c.execute(statement, rows if len(rows) > 1 else rows[0])

    def _pipelined(self, held: list[tuple[Executable, list[Mapping[str, Any]]]]) -> None:
        driver = self._c.connection.driver_connection
        assert driver is not None
        dbapi = self._c.dialect.loaded_dbapi
        try:
            with driver.pipeline():
                for statement, rows in held:
                    # An INSERT of one row would fetch its new key (implicit RETURNING), which a pipeline
                    # has not received yet and nobody reads: inline() asks for none.
                    sent = statement.inline() if isinstance(statement, Insert) else statement
                    self._c.execute(sent, rows if len(rows) > 1 else rows[0])
        except DBAPIError:
            raise  # raised by SQLAlchemy's own execute, translated already
        except dbapi.Error as error:  # raised by the pipeline's end, outside SQLAlchemy
            lost = bool(driver.closed)
            if lost:
                self._c.invalidate(error)
            raise DBAPIError.instance(
                None, None, error, dbapi.Error, connection_invalidated=lost, dialect=self._c.dialect
            ) from error

    def execute(self, statement: Executable, values: Any = None) -> CursorResult[Unpack[TupleAny]]:
        self.flush()
        return self._c.execute(statement, values)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction; the writes held inside it are sent before it is released, or dropped with it."""
        self.flush()
        nested = self._c.begin_nested()
        try:
            yield
            self.flush()
        except BaseException:
            self._held.clear()
            nested.rollback()
            raise
        nested.commit()
