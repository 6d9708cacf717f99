"""What the routes reach through ``request.app.state``: the application, the engine's liveness, the
throttle of failed authentications and that of sign-in codes asked for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from memoguard.services.application import Application

if TYPE_CHECKING:
    from memoguard.http.auth import Throttle


@dataclass(frozen=True)
class Wiring:
    application: Application
    engine_alive: Callable[[], bool]
    throttle: Throttle  # failed authentications per client address (http/auth.py)
    requests: Throttle  # sign-in codes asked for per client address (http/signin.py)


def wiring(request: Request) -> Wiring:
    found: Wiring = request.app.state.wiring
    return found


def application(request: Request) -> Application:
    return wiring(request).application
