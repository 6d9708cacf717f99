"""The FastAPI application: ingestion, incidents, on call, health. OpenAPI at /docs."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from memoguard import __version__
from memoguard.http import (
    alarm,
    console,
    console_events,
    grafana,
    health,
    heartbeat,
    incident,
    metrics,
    oncall,
    opsgenie,
    pagerduty,
    signin,
    silence,
    twilio,
    zabbix,
)
from memoguard.http import link as email_link
from memoguard.http.auth import Throttle
from memoguard.http.limit import MAX_BODY, BodyLimit
from memoguard.http.problem import on_http_exception, on_store_unavailable, on_validation_error
from memoguard.http.signin import SIGNIN_REQUESTS, SIGNIN_WINDOW
from memoguard.http.state import Wiring
from memoguard.http.stopping import Stopping
from memoguard.services.application import Application
from memoguard.services.store import StoreUnavailable


def create_app(
    application: Application,
    engine_alive: Callable[[], bool],
    lifespan_context: Callable[[], AbstractContextManager[None]] = nullcontext,
    max_body: int = MAX_BODY,
    throttle: Throttle | None = None,
    stopping: threading.Event | None = None,
    current: Callable[[], Application] | None = None,
    requests: Throttle | None = None,
) -> FastAPI:
    """``lifespan_context`` runs around serving (``serve`` starts and stops the engine in it); ``throttle``
    counts failed authentications per address (by default ``MAX_FAILURES`` a minute, http/auth.py);
    ``stopping``, once set, refuses alarms with 503 and makes /readyz fail (http/stopping.py); ``current``
    gives the application in force at each request (``serve`` reloads it: services/live.py); ``requests``
    counts sign-in codes asked for per address (``SIGNIN_REQUESTS`` per ``SIGNIN_WINDOW``)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        with lifespan_context():
            yield

    api = FastAPI(title="memoguard", version=__version__, lifespan=lifespan)
    stopping = stopping or threading.Event()
    clock = application.clock
    asked = requests or Throttle(clock, SIGNIN_REQUESTS, SIGNIN_WINDOW)
    api.state.wiring = Wiring(
        current or (lambda: application), engine_alive, throttle or Throttle(clock), asked, stopping
    )

    # Every refusal in one shape (http/problem.py), Starlette's own 404 and 405 included.
    api.add_exception_handler(RequestValidationError, on_validation_error)
    api.add_exception_handler(HTTPException, on_http_exception)
    api.add_exception_handler(StoreUnavailable, on_store_unavailable)  # 503 + Retry-After, not a 500
    routers = (
        alarm,
        grafana,
        zabbix,
        pagerduty,
        opsgenie,
        incident,
        oncall,
        health,
        twilio,
        heartbeat,
        silence,
        metrics,
    )
    for module in routers:
        api.include_router(module.router)
    api.include_router(email_link.router)  # HTML pages, not the API's JSON problems (http/link.py)
    api.include_router(signin.router)  # the sign-in pages (HTML, out of the schema) and GET /api/v1/session
    api.include_router(console.router)  # the web console's pages (HTML, out of the schema: http/console.py)
    api.include_router(console_events.router)  # its live feed (server-sent events)
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        # Declared here rather than through a FastAPI security dependency, which would cost every alarm
        # a dependency resolution (alarm.py checks the token itself).
        document = generate()
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[alarm.SOURCE_TOKEN] = {
            "type": "http",
            "scheme": "bearer",
            "description": "The token of an alarm source of memoguard.yaml, of the route's kind",
        }
        schemes[opsgenie.GENIE_KEY] = {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "'GenieKey <token>': the token of an alarm source of kind opsgenie",
        }
        # personToken is declared by the routes' ``Security`` dependency (http/auth.py).
        return document

    api.openapi = openapi  # type: ignore[method-assign]
    api.add_middleware(BodyLimit, limit=max_body)
    api.add_middleware(Stopping, stopping=stopping)  # outermost: a stopping service reads no body
    return api
