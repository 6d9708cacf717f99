"""The heartbeat half of ``SqlUnit``: one row per engine, rewritten by its beat.

Every read is bounded by an index: the freshest beats come from ``ix_engine_beat_last_beat`` (``ORDER
BY last_beat DESC LIMIT n``) and a beat rewrites its own row by primary key, so neither grows with the
number of engines that ever ran. Old rows are forgotten by a live engine (``forget_engines``), never
by a reader: the last trace of a service that stopped stays for the CLI to say since when none runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from memoguard.adapters.storage.table import EngineBeatTable
from memoguard.services.record import EngineBeat

beat_t = EngineBeatTable.__table__  # type: ignore[attr-defined]

_BEAT = update(beat_t).where(beat_t.c.instance == bindparam("key")).values(last_beat=bindparam("at"), stopped_at=None)
_STOPPED = update(beat_t).where(beat_t.c.instance == bindparam("key")).values(stopped_at=bindparam("at"))
_LATEST = select(beat_t).order_by(beat_t.c.last_beat.desc(), beat_t.c.instance).limit(bindparam("limit"))
_FORGET = delete(beat_t).where(beat_t.c.last_beat < bindparam("before"))


class SqlBeats:
    _c: Connection

    def engine_beat(self, beat: EngineBeat) -> None:
        """Record that ``beat.instance`` ran its engine at ``beat.last_beat`` (its row, by primary key)."""
        if self._c.execute(_BEAT, {"key": beat.instance, "at": beat.last_beat}).rowcount == 0:
            self._c.execute(
                insert(beat_t),
                {
                    "instance": beat.instance,
                    "host": beat.host,
                    "pid": beat.pid,
                    "started_at": beat.started_at,
                    "last_beat": beat.last_beat,
                    "stopped_at": None,
                },
            )

    def engine_stopped(self, instance: str, at: datetime) -> None:
        self._c.execute(_STOPPED, {"key": instance, "at": at})

    def engine_beats(self, limit: int) -> list[EngineBeat]:
        return [_beat(r) for r in self._c.execute(_LATEST, {"limit": limit})]

    def forget_engines(self, before: datetime) -> None:
        self._c.execute(_FORGET, {"before": before})


def _beat(r: Row[Any]) -> EngineBeat:
    return EngineBeat(r.instance, r.host, r.pid, r.started_at, r.last_beat, r.stopped_at)
