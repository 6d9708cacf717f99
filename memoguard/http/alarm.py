"""Alarm ingestion: the generic webhook and Alertmanager's. A 2xx means the alarms are committed.

Bodies are parsed as JSON whatever Content-Type says (``curl -d`` sends a form type), and the token is
checked before the body is even read, so a request with a wrong token stores nothing and learns nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ValidationError

from memoguard.http.auth import authenticate
from memoguard.http.payload import AlertmanagerPayload, GenericAlarm
from memoguard.http.state import application
from memoguard.services.ingest import Ingest
from memoguard.services.record import Alarm, Receipt

router = APIRouter(prefix="/api/v1", tags=["alarms"])

Model = TypeVar("Model", bound=BaseModel)


async def _store(ingest: Ingest, alarms: list[Alarm]) -> dict[str, Any]:
    # Handed to the ingest writer thread without a thread of our own: with a thread per request (Starlette's
    # pool), the threads queued for the writer and woke one after the other, and that, not the database,
    # set the pace (bench/ingest.py, 10 clients).
    receipts: list[Receipt] = await asyncio.wrap_future(ingest.submit(alarms))
    return {"alarms": [{"alarm": r.alarm, "outcome": r.outcome.value, "incident": r.incident} for r in receipts]}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its ``$defs`` substituted where they are referenced. Inside the OpenAPI document a
    ``#/$defs/…`` reference resolves from the document's root, where there is no ``$defs`` (the
    Alertmanager body's ``alerts`` showed as a resolver error in /docs). The models are not recursive."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = _inline(model.model_json_schema())
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _parse(request: Request, model: type[Model]) -> Model:
    raw = await request.body()
    if not raw.strip():
        raise HTTPException(400, "empty body: send a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            where = ".".join(str(p) for p in item["loc"]) or "body"
            problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
        raise HTTPException(422, "; ".join(problems)) from None


@router.post("/alarms", summary="Post one alarm (generic JSON)", openapi_extra=_body_schema(GenericAlarm))
async def post_alarm(request: Request) -> dict[str, Any]:
    app = application(request)  # not a dependency: resolving one costs a tenth of a request (bench/ingest.py)
    source = authenticate(request, app.tokens)
    kind = app.config.sources[source].kind
    if kind != "generic":
        raise HTTPException(403, f"source {source!r} is of kind {kind!r}: post to its own endpoint, not /api/v1/alarms")
    body = await _parse(request, GenericAlarm)
    if body.source is not None and body.source != source:
        raise HTTPException(403, f"this token belongs to source {source!r}, not {body.source!r}")
    return await _store(app.ingest, [body.alarm(source)])


@router.post(
    "/integrations/alertmanager",
    summary="Prometheus Alertmanager webhook (payload version 4)",
    openapi_extra=_body_schema(AlertmanagerPayload),
)
async def post_alertmanager(request: Request) -> dict[str, Any]:
    app = application(request)
    source = authenticate(request, app.tokens)
    kind = app.config.sources[source].kind
    if kind != "alertmanager":
        raise HTTPException(403, f"source {source!r} is of kind {kind!r}, not alertmanager")
    body = await _parse(request, AlertmanagerPayload)
    return await _store(app.ingest, [alert.alarm(source) for alert in body.alerts])
