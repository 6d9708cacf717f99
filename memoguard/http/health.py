"""Liveness (the process answers) and readiness (database reachable, engine loops coming round)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from memoguard.http.state import Wiring, wiring
from memoguard.services.heartbeat import describe as describe_engine
from memoguard.services.queue import describe
from memoguard.services.store import StoreUnavailable

router = APIRouter(tags=["health"])


# For the OpenAPI document only (the answers are built below); more keys may come, scripts read these.
class Alive(BaseModel):
    status: Literal["ok"]


class Engine(BaseModel):
    instance: str
    host: str
    pid: int
    started_at: str = Field(json_schema_extra={"format": "date-time"})
    last_beat: str = Field(json_schema_extra={"format": "date-time"})
    stopped_at: str | None


CONFIG_HASH = "SHA-256 of the configuration files this instance has loaded (differs between instances: a reload missed)"


class Ready(BaseModel):
    status: Literal["ready"]
    config_hash: str = Field(description=CONFIG_HASH)
    engines: list[Engine] = Field(description="Engines (this one or another instance) that beat within 30 s.")


class Unavailable(BaseModel):
    status: Literal["unavailable"]
    config_hash: str = Field(description=CONFIG_HASH)
    problems: list[str] = Field(description="Each reason, in words.")
    providers: list[dict[str, Any]] = Field(default=[], description="Providers failing past their deadline.")
    engines: list[Engine] = Field(description="Engines (this one or another instance) that beat within 30 s.")


@router.get("/healthz", summary="The process is up", response_model=None, responses={200: {"model": Alive}})
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers, the engine loops are alive and no provider fails past its deadline",
    description="Also gives `config_hash`, the loaded configuration's SHA-256, and lists `engines`: "
    "every memoguard engine (this one or another instance on the same "
    "database) whose heartbeat was seen within the last 30 s.",
    response_model=None,
    responses={
        200: {"model": Ready, "description": "Ready"},
        503: {"model": Unavailable, "description": "Not ready: the problems say why"},
    },
)
def readyz(state: Annotated[Wiring, Depends(wiring)]) -> dict[str, Any] | JSONResponse:
    problems = []
    failing: list[dict[str, object]] = []
    engines: list[dict[str, object]] = []
    try:
        state.application.store.ping()
        # A provider failing past its channel's deadline means pages are going around it, or nowhere.
        failing = [describe(entry) for entry in state.application.queue.failing()]
        # Every instance whose engine beat lately, this one included: who sends what is queued.
        engines = [describe_engine(beat) for beat in state.application.engines.status().alive]
    except StoreUnavailable as error:  # its message says "database unreachable: …"
        problems.append(str(error))
    except Exception as error:  # any driver error means "not ready"; the message says which
        problems.append(f"database unreachable: {error}")
    if state.stopping.is_set():
        problems.append("stopping: alarms are refused until the service is back")
    if not state.engine_alive():
        problems.append("engine loops are not running")
    for entry in failing:
        problems.append(f"provider {entry['provider']} failing since {entry['failing_since']}: {entry['last_error']}")
    problems.extend(state.application.dispatcher.problems())  # a link down: messages wait in the outbox
    replies = state.application.mail_replies
    if replies is not None and not replies.listening():
        problems.append("the e-mail reply listener is not running")
    digest = state.application.config.digest
    if problems:
        body: dict[str, Any] = {
            "status": "unavailable",
            "config_hash": digest,
            "problems": problems,
            "engines": engines,
        }
        if failing:
            body["providers"] = failing
        return JSONResponse(body, status_code=503)
    return {"status": "ready", "config_hash": digest, "engines": engines}
