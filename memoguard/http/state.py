"""What the routes reach through ``request.app.state``: the application, the engine's liveness, the
throttle of failed authentications, that of sign-in codes asked for, and whether the service is stopping."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from memoguard.services.application import Application

if TYPE_CHECKING:
    from memoguard.http.auth import Throttle


@dataclass(frozen=True)
class Wiring:
    current: Callable[[], Application]  # the application in force (a reload swaps it: services/live.py)
    engine_alive: Callable[[], bool]
    throttle: Throttle  # failed authentications per client address (http/auth.py)
    requests: Throttle  # sign-in codes asked for per client address (http/signin.py)
    stopping: threading.Event = field(default_factory=threading.Event)  # set once a stop began (http/stopping.py)

    @property
    def application(self) -> Application:
        return self.current()


def wiring(request: Request) -> Wiring:
    found: Wiring = request.app.state.wiring
    return found


def application(request: Request) -> Application:
    return wiring(request).application
