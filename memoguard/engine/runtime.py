"""The engine: the timer loop, the dispatcher loop and the periodic jobs of one process.

The database holds every deadline; the loops only decide when to look. The timer loop sleeps until the
earliest due timer (capped), and is woken early by the store when this process writes one, by
PostgreSQL NOTIFY when another process does, and by the sweep job otherwise. APScheduler, with its
in-memory job store only, runs the periodic jobs (the sweep, the heartbeat); it never holds an incident
deadline. The heartbeat (``services/heartbeat.py``) tells CLI commands and other instances that this
engine runs: it beats once its loops are started, then every ``BEAT_EVERY`` while they come round.
Under systemd the loops also feed its watchdog themselves (``engine/watchdog.py``).

A stop (``stop``) lets each loop finish its round: a provider call under way is completed and recorded,
and the dispatcher starts no further call of its round, giving those rows back to the queue at once
(``Dispatcher.halt``) for another instance or the next start.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from memoguard.engine.watchdog import Watchdog
from memoguard.engine.worker import Worker
from memoguard.services.application import Application
from memoguard.services.deadman import BATCH as DEADMAN_BATCH
from memoguard.services.dispatch import BATCH as DISPATCH_BATCH
from memoguard.services.heartbeat import BEAT_EVERY, Heartbeat
from memoguard.services.timer import BATCH as TIMER_BATCH

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0  # picks up work written by another process when nothing else wakes us
MAX_SLEEP = 30.0
STALE_AFTER = 15.0  # a loop that has not come round for this long makes /readyz fail
SWEEP_EVERY = 60.0  # seconds between looks for silenced incidents no window holds (Engine._sweep)
LOOPS = ("timers", "dispatcher")  # the loops a watchdog must see come round


class Engine:
    def __init__(
        self,
        app: Application,
        sweep_seconds: float = SWEEP_SECONDS,
        beat_seconds: float | None = None,
        watchdog: Watchdog | None = None,
        current: Callable[[], Application] | None = None,
    ) -> None:
        """``watchdog`` (under systemd) is fed by the two loops, named ``timers`` and ``dispatcher``;
        ``current`` gives the application in force at each round (a reload swaps it: services/live.py)."""
        self._app = app
        self._current = current or (lambda: app)
        self._dispatching = app.dispatcher  # the dispatcher of the round under way, which a stop halts
        self._sweep = sweep_seconds
        self._beat_every = BEAT_EVERY.total_seconds() if beat_seconds is None else beat_seconds
        self.heartbeat = Heartbeat(app.store, app.clock, uuid.uuid4().hex, socket.gethostname(), os.getpid())
        on_round = watchdog.round_done if watchdog is not None else None
        cap = watchdog.every if watchdog is not None else None
        self.timers = Worker(LOOPS[0], self._timer_tick, on_round, cap)
        self.dispatcher = Worker(LOOPS[1], self._dispatch_tick, on_round, cap)
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._started = False
        self._swept: Application | None = None  # the configuration whose silences were last swept
        self._swept_at = 0.0  # and when (monotonic)

    def start(self) -> None:
        """Fire everything overdue first (in due order), then run the loops."""
        with self._app.store.write() as unit:
            released = unit.release_orphaned_claims()
        if released:
            log.info("took back %d notification(s) a previous run had claimed but not recorded as sent", released)
        overdue = self._app.timers.fire_all_due()
        if overdue:
            log.info("fired %d overdue timer(s) at start-up", overdue)
        declared = self._app.deadman.declare()
        if declared:
            log.info("declared %d new heartbeat(s): their first period starts now", declared)
        if self._app.selftest is not None and self._app.selftest.declare():
            log.info("self-test page scheduled: first run at %s", self._app.selftest.next_due())
        self._app.store.subscribe(self.wake)
        self._app.dispatcher.start()
        self.timers.start()
        self.dispatcher.start()
        self._scheduler.add_job(self.wake, "interval", seconds=self._sweep, id="sweep")
        self._scheduler.add_job(self.beat, "interval", seconds=self._beat_every, id="heartbeat")
        self._scheduler.start()
        self._started = True
        self.heartbeat.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Let each loop finish its round (up to ``timeout`` seconds each), then record the stop."""
        if not self._started:
            return
        self._scheduler.shutdown(wait=False)
        # No new call of the round under way (its rows go back now), whichever configuration it began with.
        self._dispatching.halt()
        self._current().dispatcher.halt()
        self.timers.stop(timeout)
        self.dispatcher.stop(timeout)
        self._started = False
        try:
            self.heartbeat.stop()
        except Exception:  # the database may be what stopped us: the beat then just goes stale
            log.warning("could not record this engine's stop", exc_info=True)

    def beat(self) -> None:
        """The heartbeat job: only while the loops come round (a stalled engine must look stopped)."""
        if self.alive:
            self.heartbeat.beat()

    def wake(self) -> None:
        self.timers.wake()
        self.dispatcher.wake()

    @property
    def alive(self) -> bool:
        now = time.monotonic()
        return self._started and all(
            w.alive and now - w.last_beat < STALE_AFTER for w in (self.timers, self.dispatcher)
        )

    def _timer_tick(self) -> float:
        # Heartbeat deadlines (services/deadman.py) are durable timers too, looked at by the same loop.
        # So is the self-test page's schedule (services/selftest.py).
        current = self._current()
        self._release_unheld(current)
        if current.timers.fire_due() >= TIMER_BATCH or current.deadman.check_due() >= DEADMAN_BATCH:
            return 0.0
        tester = current.selftest
        if tester is not None and tester.check_due():
            return 0.0
        with self._app.store.read() as unit:
            due = unit.next_timer_due()
        deadline = current.deadman.next_due()
        test = tester.next_due() if tester is not None else None
        return self._pause_until(min((d for d in (due, deadline, test) if d is not None), default=None))

    def _release_unheld(self, current: Application) -> None:
        """What a silence no longer holds escalates now rather than at the old window's end
        (services/silences.py): at once for each configuration in force (start, reload: a window deleted
        from memoguard.yaml), and every SWEEP_EVERY (a run-time silence whose removal could not release
        everything it held). Its failure is logged and tried again later: it must never stop the timers."""
        now = time.monotonic()
        if current is self._swept and now - self._swept_at < SWEEP_EVERY:
            return
        self._swept, self._swept_at = current, now
        try:
            released = current.silences.release_unheld()
        except Exception:
            log.exception("releasing silenced incidents no window holds failed; trying again in %ss", SWEEP_EVERY)
            return
        if released:
            log.info("released %d silenced incident(s) no window holds any more", released)

    def _dispatch_tick(self) -> float:
        self._dispatching = self._current().dispatcher
        if self._dispatching.drain() >= DISPATCH_BATCH:
            return 0.0
        with self._app.store.read() as unit:
            due = unit.next_notification_due()
        return self._pause_until(due)

    def _pause_until(self, due: datetime | None) -> float:
        if due is None:
            return MAX_SLEEP
        return min(max((due - self._app.clock.now()).total_seconds(), 0.0), MAX_SLEEP)
