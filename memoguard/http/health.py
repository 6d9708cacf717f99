"""Liveness (the process answers) and readiness (database reachable, engine loops coming round)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from memoguard.http.state import Wiring, wiring

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and the engine loops are alive", response_model=None)
def readyz(state: Annotated[Wiring, Depends(wiring)]) -> dict[str, Any] | JSONResponse:
    problems = []
    try:
        state.application.store.ping()
    except Exception as error:  # any driver error means "not ready"; the message says which
        problems.append(f"database unreachable: {error}")
    if not state.engine_alive():
        problems.append("engine loops are not running")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return {"status": "ready"}
