"""LISTEN on PostgreSQL: another process (the CLI, another instance) committed timers or notifications."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from memoguard.adapters.storage.database import connect_arguments
from memoguard.adapters.storage.store import WAKEUP_CHANNEL

log = logging.getLogger(__name__)


class PostgresListener:
    def __init__(self, url: str, on_wakeup: Callable[[], None]) -> None:
        self._arguments = connect_arguments(url)  # several hosts and target_session_attrs kept
        self._on_wakeup = on_wakeup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memoguard-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                with psycopg.connect(autocommit=True, **self._arguments) as connection:
                    connection.execute(f"LISTEN {WAKEUP_CHANNEL}")
                    delay = 1.0
                    while not self._stop.is_set():
                        for _ in connection.notifies(timeout=1.0, stop_after=1):
                            self._on_wakeup()
            except psycopg.Error as error:
                log.warning("LISTEN %s failed (%s); retrying in %.0fs", WAKEUP_CHANNEL, error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
