"""Whether a service runs its engine on this database: each engine's heartbeat, and what readers see.

Everything the CLI writes (an alarm, an escalation, an acknowledgement's notices) only queues pages and
timers in the database; a ``memoguard serve`` running its engine on the same database sends them. So a
CLI that says "opened incident 1" while no service runs would let an operator believe someone was
paged. Each running engine therefore writes a heartbeat row (instance, host, pid, started_at,
last_beat) every ``BEAT_EVERY``; an engine whose last beat is older than ``ALIVE_WITHIN`` (three beats:
a beat may wait behind a busy writer) or that stopped cleanly is not running. Readers (``alarm send``,
``incident``, ``queue``, /readyz) look at the freshest beats only, through an index.

Beats are written with the engine's clock and read with the reader's: on PostgreSQL with instances on
several hosts, their clocks must agree within a few seconds (NTP), far less than ``ALIVE_WITHIN``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from memoguard.services.clock import Clock
from memoguard.services.record import EngineBeat
from memoguard.services.store import Store

BEAT_EVERY = timedelta(seconds=10)
ALIVE_WITHIN = 3 * BEAT_EVERY  # past this without a beat, an engine is taken for stopped
FORGET_AFTER = timedelta(days=7)  # a live engine forgets the rows of engines silent for this long
SHOWN = 20  # engines read at most (the freshest): what /readyz lists


@dataclass(frozen=True)
class EngineStatus:
    """The engines that ran on the database lately, as seen at ``at``."""

    at: datetime
    alive: tuple[EngineBeat, ...]  # beat within ALIVE_WITHIN and not stopped, freshest first
    last: EngineBeat | None  # the freshest beat of any engine, alive or not; None: no engine ever ran

    @property
    def running(self) -> bool:
        return bool(self.alive)

    @property
    def last_seen(self) -> datetime | None:
        """When an engine last ran here (its last beat, or its clean stop)."""
        if self.last is None:
            return None
        return max(self.last.last_beat, self.last.stopped_at or self.last.last_beat)


class Engines:
    """Reads the heartbeats (CLI commands, /readyz)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def status(self) -> EngineStatus:
        now = self._clock.now()
        with self._store.read() as unit:
            beats = unit.engine_beats(SHOWN)
        alive = tuple(b for b in beats if b.stopped_at is None and b.last_beat >= now - ALIVE_WITHIN)
        return EngineStatus(now, alive, beats[0] if beats else None)


class Heartbeat:
    """One engine's heartbeat: ``beat`` when it starts and every ``BEAT_EVERY`` while its loops run,
    ``stop`` when it stops cleanly."""

    def __init__(self, store: Store, clock: Clock, instance: str, host: str, pid: int) -> None:
        self._store = store
        self._clock = clock
        self._beat: EngineBeat | None = None
        self._identity = (instance, host, pid)
        # A beat job still running when the engine stops must not write after ``stop``: the row would
        # say a stopped engine runs for another ``ALIVE_WITHIN``.
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def instance(self) -> str:
        return self._identity[0]

    def start(self) -> None:
        """The engine started: beat at once, and from now on whenever ``beat`` is called."""
        with self._lock:
            self._stopped = False
        self.beat()

    def beat(self) -> None:
        with self._lock:
            if self._stopped:
                return
            with self._store.write() as unit:
                now = self._clock.now()  # once the write lock is held: a wait for it would make the beat stale
                if self._beat is None:
                    instance, host, pid = self._identity
                    self._beat = EngineBeat(instance, host, pid, started_at=now, last_beat=now)
                self._beat = replace(self._beat, last_beat=now)
                unit.engine_beat(self._beat)
                unit.forget_engines(now - FORGET_AFTER)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._beat is None:
                return
            with self._store.write() as unit:
                unit.engine_stopped(self.instance, self._clock.now())
            self._beat = None


def describe(beat: EngineBeat) -> dict[str, object]:
    """The JSON shape of an engine (/readyz, ``memoguard queue --json``)."""
    return {
        "instance": beat.instance,
        "host": beat.host,
        "pid": beat.pid,
        "started_at": beat.started_at.isoformat(),
        "last_beat": beat.last_beat.isoformat(),
        "stopped_at": beat.stopped_at.isoformat() if beat.stopped_at else None,
    }
