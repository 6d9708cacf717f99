"""While the service stops, alarms are refused with 503 and ``Retry-After`` instead of being half-taken.

A stop (SIGTERM) first stops taking alarms, then lets the engine finish its provider calls, and only then
closes the port (``http/server.py``). In between, a sender gets a clear "not here, not now": Alertmanager
and most monitoring tools retry a 503, a load balancer's health check sees ``/readyz`` fail and sends the
next alarm to another instance. An alarm that was already being read when the stop began is taken and
committed as usual: only requests that *arrive* during the stop are refused, and nothing of them is stored.
Everything else (reads, acknowledgements by API, SMS or e-mail, provider callbacks) is still served: a
person acknowledging during a restart must not be told to try later.
"""

from __future__ import annotations

import json
import threading

from starlette.types import ASGIApp, Receive, Scope, Send

from memoguard.http.problem import issue

RETRY_AFTER = 10  # seconds: about what a restart under systemd takes
ALARM_PATHS = ("/api/v1/alarms", "/api/v1/integrations/")  # the native, Alertmanager and Opsgenie routes


class Stopping:
    """Answers 503 to alarms once ``stopping`` is set."""

    def __init__(self, app: ASGIApp, stopping: threading.Event, retry_after: int = RETRY_AFTER) -> None:
        self._app = app
        self._stopping = stopping
        self._retry_after = str(retry_after).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self._stopping.is_set()
            and scope["method"] == "POST"
            and scope["path"].startswith(ALARM_PATHS)
        ):
            await self._refuse(send)
            return
        await self._app(scope, receive, send)

    async def _refuse(self, send: Send) -> None:
        body = {"detail": [issue("the service is stopping: nothing was stored, send it again", [], "stopping")]}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"retry-after", self._retry_after),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
