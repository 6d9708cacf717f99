"""Heartbeat pings (dead man's switches, services/deadman.py) and their list.

``POST /api/v1/heartbeats/NAME`` takes the token of the source NAME (one declaring ``heartbeat:``). The
body may be empty (``curl -X POST``), any JSON object, or Alertmanager's webhook body: Prometheus's
always-firing Watchdog alert, routed to this URL, pings as long as the alerting pipeline works. An
Alertmanager body whose every alert is resolved does not ping (Alertmanager sends that when Prometheus
stopped sending the Watchdog): the heartbeat then misses as it should. Reading the list takes a
person's token, like the incidents.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from memoguard.http.alarm import SOURCE_TOKEN
from memoguard.http.answer import ok
from memoguard.http.auth import Who, authenticate
from memoguard.http.problem import refuse, responses
from memoguard.http.state import application
from memoguard.services.application import Application
from memoguard.services.error import NotFound

router = APIRouter(prefix="/api/v1", tags=["heartbeats"])

App = Annotated[Application, Depends(application)]


class HeartbeatView(BaseModel):
    name: str
    every: str
    grace: str
    state: str = Field(description="undeclared (no engine ran since it was configured), waiting, up or missed")
    since: str | None = Field(json_schema_extra={"format": "date-time"})
    last_ping: str | None = Field(json_schema_extra={"format": "date-time"})
    deadline: str | None = Field(json_schema_extra={"format": "date-time"}, description="null while missed")
    incident: str | None = Field(description="The incident its last miss opened.")


class PingAnswer(BaseModel):
    pinged: bool = Field(description="false for an Alertmanager body whose every alert is resolved")
    heartbeat: HeartbeatView
    resolved: str | None = Field(description="The incident of a miss this ping resolved, if any.")


class HeartbeatList(BaseModel):
    heartbeats: list[HeartbeatView]


_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "Optional: nothing, any JSON object, or Alertmanager's webhook body (its"
                    " Watchdog alert pings while firing)",
                }
            }
        },
    },
    "security": [{SOURCE_TOKEN: []}],
}


def _pings(raw: bytes) -> bool:
    if not raw.strip():
        return True
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise refuse(
            400, "the body is not JSON: send nothing, a JSON object or Alertmanager's body", ["body"]
        ) from None
    if not isinstance(body, dict):
        raise refuse(422, f"expected a JSON object, got {type(body).__name__}", ["body"], "object_type")
    alerts = body.get("alerts")
    if isinstance(alerts, list) and alerts and all(isinstance(a, dict) for a in alerts):
        return any(a.get("status") != "resolved" for a in alerts)
    return True


@router.post(
    "/heartbeats/{name}",
    summary="Ping a heartbeat (a source declaring heartbeat:), with that source's token",
    openapi_extra=_BODY,
    response_model=None,
    responses={
        **ok(PingAnswer, "Pinged (or an all-resolved Alertmanager body: not)"),
        **responses(400, 401, 403, 404, 413, 422),
    },
)
async def ping(name: str, request: Request) -> dict[str, Any]:
    app = application(request)
    source = authenticate(request, app.tokens)
    if source != name:
        raise refuse(403, f"this token belongs to source {source!r}, not to heartbeat {name!r}", ["path", "name"])
    if not _pings(await request.body()):
        found = {s.name: s for s in await run_in_threadpool(app.deadman.status)}.get(name)
        if found is None:
            raise refuse(404, f"source {name!r} declares no heartbeat", ["path", "name"])
        return {"pinged": False, "heartbeat": found.describe(), "resolved": None}
    try:
        done = await run_in_threadpool(app.deadman.ping, name)
    except NotFound:
        raise refuse(404, f"source {name!r} declares no heartbeat", ["path", "name"]) from None
    shown = {s.name: s for s in await run_in_threadpool(app.deadman.status)}[name]
    resolved = done.resolved.incident if done.resolved is not None else None
    return {"pinged": True, "heartbeat": shown.describe(), "resolved": resolved}


@router.get(
    "/heartbeats",
    summary="Every heartbeat with its last ping, deadline and state",
    response_model=None,
    responses={**ok(HeartbeatList, "The heartbeats, by name"), **responses(401, 429)},
)
def heartbeats(app: App, _: Who) -> dict[str, Any]:
    return {"heartbeats": [s.describe() for s in app.deadman.status()]}
