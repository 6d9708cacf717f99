"""Alarm ingestion: the generic webhook and Alertmanager's. A 2xx means the alarms are committed.

Bodies are parsed as JSON whatever Content-Type says (``curl -d`` sends a form type), and the token is
checked before the body is even read, so a request with a wrong token stores nothing and learns nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field, ValidationError

from memoguard.http.auth import authenticate
from memoguard.http.payload import AlertmanagerPayload, GenericAlarm
from memoguard.http.problem import refuse, responses, validation_issues
from memoguard.http.state import application
from memoguard.services.ingest import Ingest
from memoguard.services.record import Alarm, Outcome, Receipt

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


# The OpenAPI security scheme of the ingestion routes (app.py declares it): the source's bearer token.
SOURCE_TOKEN = "sourceToken"


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = _inline(model.model_json_schema())
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "security": [{SOURCE_TOKEN: []}],
    }


async def _parse(request: Request, model: type[Model]) -> Model:
    raw = await request.body()
    if not raw.strip():
        raise refuse(400, "empty body: send a JSON object", ["body"], "empty_body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        issues = validation_issues(error.errors(include_url=False))
        for item in issues:
            item["loc"] = ["body", *item["loc"]]
        raise HTTPException(422, issues) from None


class AlarmReceipt(BaseModel):
    alarm: int = Field(description="The stored alarm's number.")
    outcome: Outcome
    incident: str | None = Field(description="The incident it opened, joined or resolved, if any.")


class Receipts(BaseModel):
    """What became of each alarm, in the order sent: committed to the database before this answer."""

    alarms: list[AlarmReceipt]


# Documented only (a response model would cost every request its validation): the 200, and the refusals,
# each of which stores nothing.
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Receipts, "description": "Committed"},
    **responses(400, 401, 403, 413, 422, 503),
}


@router.post(
    "/alarms",
    summary="Post one alarm (generic JSON)",
    openapi_extra=_body_schema(GenericAlarm),
    responses=RESPONSES,
    response_model=None,
)
async def post_alarm(request: Request) -> dict[str, Any]:
    app = application(request)  # not a dependency: resolving one costs a tenth of a request (bench/ingest.py)
    source = authenticate(request, app.tokens)
    kind = app.config.sources[source].kind
    if kind != "generic":
        raise refuse(
            403,
            f"source {source!r} is of kind {kind!r}: post to its own endpoint, not /api/v1/alarms",
            ["header", "authorization"],
        )
    body = await _parse(request, GenericAlarm)
    if body.source is not None and body.source != source:
        raise refuse(403, f"this token belongs to source {source!r}, not {body.source!r}", ["body", "source"])
    return await _store(app.ingest, [body.alarm(source, app.config.sources[source].severity_map)])


@router.post(
    "/integrations/alertmanager",
    summary="Prometheus Alertmanager webhook (payload version 4)",
    openapi_extra=_body_schema(AlertmanagerPayload),
    responses=RESPONSES,
    response_model=None,
)
async def post_alertmanager(request: Request) -> dict[str, Any]:
    app = application(request)
    source = authenticate(request, app.tokens)
    kind = app.config.sources[source].kind
    if kind != "alertmanager":
        raise refuse(403, f"source {source!r} is of kind {kind!r}, not alertmanager", ["header", "authorization"])
    body = await _parse(request, AlertmanagerPayload)
    overrides = app.config.sources[source].severity_map
    return await _store(app.ingest, [alert.alarm(source, overrides) for alert in body.alerts])
