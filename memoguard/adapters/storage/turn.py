"""Turns at SQLite's one writer, first come, first served, among the threads of one process.

``threading.Lock`` makes no promise of order: a thread that releases it and asks again at once (the timer
loop working through a backlog batch after batch) usually gets it back before a thread that was already
waiting (the dispatcher with pages to record), which then waits for the whole backlog. Here a release
hands the turn to the longest waiter. Re-entrant for the thread that holds it.
"""

from __future__ import annotations

import threading
from collections import deque


class Turns:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[tuple[int, threading.Event]] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, timeout: float) -> bool:
        """Wait for this thread's turn; False when it has not come within ``timeout`` seconds."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me or (self._owner is None and not self._waiting):
                self._owner = me
                self._depth += 1
                return True
            turn = threading.Event()
            self._waiting.append((me, turn))
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ran out
                return True
            self._waiting.remove((me, turn))
            return False

    @property
    def waiting(self) -> int:
        """Threads waiting for their turn."""
        with self._mutex:
            return len(self._waiting)

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("releasing a writer turn this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._waiting:
                self._owner, turn = self._waiting.popleft()
                self._depth = 1
                turn.set()
