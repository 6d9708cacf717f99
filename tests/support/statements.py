"""The statements a piece of code sends, and how much work each one is for the database.

``captured()`` records every statement any SQLAlchemy engine sends meanwhile (a ``before_cursor_execute``
listener on the Engine class, so it also sees engines made inside the code, and statements added after
this was written). ``work()`` replays one in a transaction rolled back and counts its work:

- SQLite: virtual-machine instructions, counted by sqlite3's progress handler. Reaching a row through
  an index is one instruction whatever the table's size; a scan costs a few per row.
- PostgreSQL: rows the plan visits (``EXPLAIN (ANALYZE, FORMAT JSON)``: each node's rows, plus those
  its filters removed, times its loops), with sequential scans priced out (``enable_seqscan = off``).
  The test's tables hold thousands of rows, not a year's millions: at that size the planner rightly
  scans a table of a few pages rather than use its index, and how close the two costs are depends on
  row widths, so a measure of the plan it picks would say more about the test's size than the query.
  Priced out, it still scans a table that no index serves, so what grows is a query no index bounds.

Used by tests/integration/test_startup.py and bench/startup.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

MEASURED = re.compile(r"^\s*(SELECT|WITH|UPDATE|DELETE|INSERT\s+INTO\s+\S+\s*(\([^)]*\)\s*)?SELECT)\b", re.I | re.S)


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any


@contextmanager
def captured() -> Iterator[list[Statement]]:
    """Every statement any engine sends meanwhile (executemany batches of inserts left out: their work is
    one row each)."""
    seen: list[Statement] = []

    def record(_c: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, executemany: bool) -> None:
        if not executemany:
            seen.append(Statement(sql, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


def distinct(statements: list[Statement]) -> list[Statement]:
    """One of each measurable statement (reads and writes that may search; plain inserts, transaction
    control, PRAGMAs and NOTIFY do not depend on the tables' size)."""
    found: dict[str, Statement] = {}
    for statement in statements:
        if MEASURED.match(statement.sql) and statement.sql not in found:
            found[statement.sql] = statement
    return list(found.values())


def work(engine: sa.Engine, statement: Statement) -> int:
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        if engine.dialect.name == "sqlite":
            return _sqlite_steps(driver, statement)
        return _postgres_rows(driver, statement)
    finally:
        raw.close()


def plan(engine: sa.Engine, statement: Statement) -> str:
    """How the database runs it (shown with a statement that grew)."""
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
        if engine.dialect.name == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # as in work(): see the module's docstring
        cursor.execute(explain + statement.sql, statement.parameters)
        return " | ".join(str(row[-1]).strip() for row in cursor.fetchall())
    finally:
        raw.rollback()
        raw.close()


def _sqlite_steps(connection: Any, statement: Statement) -> int:
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    cursor = connection.cursor()
    cursor.execute("BEGIN")
    try:
        connection.set_progress_handler(tick, 1)
        cursor.execute(statement.sql, statement.parameters)
        cursor.fetchall()
    finally:
        connection.set_progress_handler(None, 1)
        cursor.execute("ROLLBACK")
    return steps[0]


def _postgres_rows(connection: Any, statement: Statement) -> int:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # see the module's docstring
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql, statement.parameters)
            [[plans]] = cursor.fetchall()
    finally:
        connection.rollback()
    plan = (json.loads(plans) if isinstance(plans, str) else plans)[0]["Plan"]
    return _visited(plan)


def _visited(node: dict[str, Any]) -> int:
    if node.get("Function Name") == "pg_lock_status":
        # pg_locks (outbox claimants alive: adapters/storage/claim.py) holds the locks of the sessions
        # open at that moment, whatever the history: other tests' sessions come and go between two
        # measures, so its rows would make the measure depend on the order tests run in.
        return sum(_visited(child) for child in node.get("Plans", []))
    own = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
    own += node.get("Rows Removed by Index Recheck", 0) + node.get("Rows Removed by Join Filter", 0)
    return int(own * node.get("Actual Loops", 1)) + sum(_visited(child) for child in node.get("Plans", []))
