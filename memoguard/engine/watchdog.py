"""WATCHDOG=1 only while every engine loop comes round: a stuck timer loop gets the process restarted.

systemd restarts a unit that stays silent for ``WatchdogSec``. Pinging from a timer thread of its own, or
from the HTTP server, would prove only that *that* thread runs: the loops could be stuck on a lock or a
provider call for ever while the service looked healthy. So the loops ping themselves: each reports the
(monotonic) time it *started* every round it completes, and a ping goes out only when every loop has
completed a round that started after the previous ping. One loop blocked and nothing is sent, however
lively the others are; systemd then kills and restarts the process, and since every timer and queued page
is in the database, nothing is lost.

Pings go at most every quarter of the timeout (systemd asks for at least one per half), and the engine
caps each loop's sleep at that quarter so a quiet service still comes round in time; the sweep job wakes
the loops every second anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from memoguard.engine.notify import Notifier


class Watchdog:
    def __init__(
        self,
        notifier: Notifier,
        timeout: float,
        loops: Iterable[str],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"watchdog timeout {timeout!r}: expected a positive number of seconds")
        self._notifier = notifier
        self.every = timeout / 4
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._rounds: dict[str, float | None] = dict.fromkeys(loops)  # loop -> start of its latest completed round
        if not self._rounds:
            raise ValueError("a watchdog needs at least one loop to watch")
        self._last_ping = float("-inf")
        self.pings = 0

    def round_done(self, loop: str, started: float) -> bool:
        """Called by ``loop`` after each round, with the monotonic time the round began; True if it pinged."""
        with self._lock:
            if loop not in self._rounds:
                raise KeyError(f"loop {loop!r} is not watched (watched: {', '.join(sorted(self._rounds))})")
            self._rounds[loop] = started
            now = self._monotonic()
            if now - self._last_ping < self.every:
                return False
            if any(begun is None or begun <= self._last_ping for begun in self._rounds.values()):
                return False  # some loop has not come round since the last ping: stay silent
            self._last_ping = now
            self.pings += 1
        return self._notifier.watchdog()
