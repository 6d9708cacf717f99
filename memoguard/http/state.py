"""What the routes reach through ``request.app.state``: the application and the engine's liveness."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from memoguard.services.application import Application


@dataclass(frozen=True)
class Wiring:
    application: Application
    engine_alive: Callable[[], bool]


def wiring(request: Request) -> Wiring:
    found: Wiring = request.app.state.wiring
    return found


def application(request: Request) -> Application:
    return wiring(request).application
