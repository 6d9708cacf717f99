"""uvicorn's server, taught two things a supervised service needs: to say when it is ready, and to stop
in order.

- ``on_ready`` runs once the port listens (uvicorn binds it only after the application's start-up, where
  the engine starts): that is when ``serve`` tells systemd ``READY=1``.
- The first SIGTERM or SIGINT does not close the port at once, as uvicorn would. It sets ``stopping`` (alarms
  answer 503 with Retry-After, /readyz fails: ``http/stopping.py``) and runs ``on_stop`` in a thread of its
  own (``serve`` sends ``STOPPING=1`` and lets the engine finish its provider calls and give back its
  claims); only when that returns does uvicorn close the port, let the requests under way finish (up to
  ``timeout_graceful_shutdown``) and run the application's shutdown. A second signal stops at once.
- The signal is not raised again after the stop, as uvicorn does by default: a stop asked for and done
  in order exits with status 0.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)


class Server(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        stopping: threading.Event,
        on_ready: Callable[[], object] = lambda: None,
        on_stop: Callable[[], object] = lambda: None,
    ) -> None:
        super().__init__(config)
        self._stopping = stopping
        self._on_ready = on_ready
        self._on_stop = on_stop

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self._on_ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:  # noqa: ARG002 - signal handler signature
        if self._stopping.is_set():
            log.warning("second stop signal: stopping now")
            self.should_exit = True
            self.force_exit = True
            return
        self._stopping.set()
        threading.Thread(target=self._stop, name="memoguard-stop", daemon=True).start()

    def _stop(self) -> None:
        try:
            self._on_stop()
        except Exception:
            log.exception("stopping the engine failed; closing the port anyway")
        finally:
            self.should_exit = True
