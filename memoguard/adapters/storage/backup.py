"""``memoguard backup FILE``: a consistent copy of a SQLite database, taken while the service runs.

SQLite's online backup API (``sqlite3.Connection.backup``) copies the database page by page inside one
read transaction: under WAL the service goes on writing (into the WAL) and the copy is the database as it
was at one instant, committed transactions only. It is copied in a single step: a copy in several steps
starts again whenever another connection writes, which a busy service would do for ever. The copy is
written to ``FILE.partial``, checked (``PRAGMA integrity_check``), flushed to disk and only then renamed
to ``FILE``: a file at that name is always a whole backup. An existing FILE is never overwritten.

PostgreSQL is backed up with its own tools (``pg_dump``, or a replica and base backups); see
docs/operations.md.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup was not made; the message says why and what to do."""


def backup(url: str, target: Path) -> int:
    """Copy the database at ``url`` to ``target``; returns the copy's size in bytes."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            "the database is PostgreSQL: back it up with pg_dump (pg_dump -Fc memoguard > FILE), see docs/operations.md"
        )
    source = parsed.database
    if not source or source == ":memory:":
        raise BackupError(f"database URL {url!r} names no file to back up")
    if not Path(source).is_file():
        raise BackupError(f"{source}: no such database file")
    if target.exists():
        raise BackupError(f"{target}: already exists; a backup never overwrites a file, name a new one")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such directory")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)  # a previous attempt that died half-way
    reader = sqlite3.connect(source, timeout=30)  # only reads, but may need to create the WAL index
    try:
        copy = sqlite3.connect(partial)
        try:
            reader.backup(copy)  # one step: one read transaction, the database at one instant
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError(f"the copy failed its integrity check: {verdict}")
        finally:
            copy.close()
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backing up {source} failed: {error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    partial.rename(target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
    return target.stat().st_size
