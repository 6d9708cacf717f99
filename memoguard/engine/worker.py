"""A loop in its own thread: run a tick, then sleep until woken or until the tick's own deadline."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from memoguard.services.store import StoreUnavailable

log = logging.getLogger(__name__)

ERROR_PAUSE = 1.0


class Worker:
    """``tick`` does one round of work and returns how long it may sleep (seconds) before the next.

    ``wake()`` (from any thread) cuts a sleep short; a wake-up that arrives during a tick is not lost.
    ``on_round(name, started)`` is told after every round, with the monotonic time it began (the
    watchdog: engine/watchdog.py); ``max_pause`` caps every sleep so the loop comes round that often.
    """

    def __init__(
        self,
        name: str,
        tick: Callable[[], float],
        on_round: Callable[[str, float], object] | None = None,
        max_pause: float | None = None,
    ) -> None:
        self.name = name
        self._tick = tick
        self._on_round = on_round
        self._max_pause = max_pause
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"memoguard-{name}", daemon=True)
        self.last_beat = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wakeup.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wakeup.clear()
            started = time.monotonic()
            try:
                pause = self._tick()
            except StoreUnavailable as error:  # an outage, not a bug: one line, and try again shortly
                log.warning("%s loop: %s; retrying in %.0fs", self.name, error, ERROR_PAUSE)
                pause = ERROR_PAUSE
            except Exception:
                log.exception("%s loop failed; retrying in %.0fs", self.name, ERROR_PAUSE)
                pause = ERROR_PAUSE
            self.last_beat = time.monotonic()
            if self._on_round is not None:
                try:
                    self._on_round(self.name, started)
                except Exception:  # a watchdog that fails must not stop the loop it watches
                    log.exception("%s loop: reporting its round failed", self.name)
            if self._max_pause is not None:
                pause = min(pause, self._max_pause)
            if pause > 0:
                self._wakeup.wait(pause)
