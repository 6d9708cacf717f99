"""Alarms from anything that speaks PagerDuty's Events API v2: a source of kind ``pagerduty``.

A tool with a PagerDuty integration pages through memoguard once its events URL
(``https://events.pagerduty.com/v2/enqueue``) is changed to ``<memoguard>/api/v1/integrations/pagerduty/v2/enqueue``
and its integration (routing) key to the source's token. The body and the answers are PagerDuty's
(developer.pagerduty.com, "Send an Alert Event" and "Events API v2 Overview"):

- ``routing_key`` selects the source, so it is the credential: there is no Authorization header. The body
  is therefore read before the key is checked (unlike memoguard's other ingestion routes); a body over the
  limit is still refused before it is read (http/limit.py). memoguard's tokens need not be 32 characters.
- ``event_action`` ``trigger`` is a firing alarm, ``resolve`` a resolved one, ``acknowledge`` acknowledges
  the open incident as the source itself (services/note.py), as PagerDuty does; an acknowledge or resolve
  with no open incident of that key is accepted and changes nothing (PagerDuty drops it).
- ``dedup_key`` is the dedup key; a trigger without one gets a new UUID, returned in the answer (so a
  trigger without a key always opens a new incident, as in PagerDuty). Acknowledge and resolve need one.
- ``payload``: summary, source, severity (critical, error, warning, info: mapped, domain/severity.py),
  timestamp, component, group, class (labels), custom_details (details); ``links``, ``images``,
  ``client_url`` are kept on the incident's timeline.
- Answers: ``202 {"status": "success", "message": "Event processed", "dedup_key": …}`` once committed;
  ``400 {"status": "invalid event", "message": …, "errors": [...]}`` for every refusal, an unknown
  routing key included (PagerDuty answers "Invalid routing key" the same way), each error naming the field.
- Change events (``/v2/change/enqueue``) are refused (400): they page nobody in PagerDuty, and memoguard has
  nowhere to show them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from memoguard.domain.severity import severity
from memoguard.http.alarm import _inline, _store
from memoguard.http.auth import client_address
from memoguard.http.payload import BLANK, Labels, Text
from memoguard.http.problem import responses
from memoguard.http.state import application
from memoguard.services.note import acknowledge_from_source
from memoguard.services.record import Alarm, AlarmStatus

router = APIRouter(prefix="/api/v1/integrations/pagerduty/v2", tags=["alarms"])

MAX_LIST = 50  # links and images kept per event


class Link(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    href: Text = Field(min_length=1, max_length=2000)
    text: Text = Field(default="", max_length=500)


class Image(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    src: Text = Field(min_length=1, max_length=2000)
    href: Text = Field(default="", max_length=2000)
    alt: Text = Field(default="", max_length=500)


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    summary: Text = Field(
        min_length=1, max_length=1024, json_schema_extra={"not": {"pattern": "^[ \\t\\n\\r\\f\\v]*$"}}
    )
    source: Text = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Text = ""
    component: Text = Field(default="", max_length=255)
    group: Text = Field(default="", max_length=255)
    class_: Text = Field(default="", max_length=255, alias="class")
    custom_details: dict[str, Any] | None = Field(default=None, description="Free-form: kept as the details.")


def _rules(schema: dict[str, Any]) -> None:
    """In JSON Schema: a trigger needs a payload; acknowledge and resolve need a dedup_key; neither may be
    null (None in Python only stands for absent)."""
    for name in ("payload", "dedup_key"):
        field = schema["properties"][name]
        (kept,) = [option for option in field.pop("anyOf") if option.get("type") != "null"]
        field.update(kept)
        field.pop("default", None)
    schema["allOf"] = [
        {
            "if": {"properties": {"event_action": {"const": "trigger"}}, "required": ["event_action"]},
            "then": {"required": ["payload"]},
            "else": {"required": ["dedup_key"]},
        }
    ]


class Event(BaseModel):
    """PagerDuty's alert event (POST /v2/enqueue)."""

    model_config = ConfigDict(extra="ignore", strict=True, json_schema_extra=_rules)

    routing_key: Text = Field(min_length=1, description="The token of a pagerduty source: the credential.")
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: Text | None = Field(default=None, min_length=1, max_length=255)
    payload: Payload | None = Field(default=None, description="Required for trigger.")
    client: Text = Field(default="", max_length=255)
    client_url: Text = Field(default="", max_length=2000)
    links: list[Link] = Field(default_factory=list, max_length=MAX_LIST)
    images: list[Image] = Field(default_factory=list, max_length=MAX_LIST)


class Success(BaseModel):
    status: Literal["success"]
    message: Literal["Event processed"]
    dedup_key: str


class InvalidEvent(BaseModel):
    """PagerDuty's refusal; every refusal stores nothing."""

    status: Literal["invalid event"]
    message: str
    errors: list[str] = Field(min_length=1)


class Refusal(Exception):
    def __init__(self, errors: list[str], message: str = "Event object is invalid") -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


def invalid(refusal: Refusal) -> JSONResponse:
    return JSONResponse({"status": "invalid event", "message": refusal.message, "errors": refusal.errors}, 400)


def _errors(error: ValidationError) -> list[str]:
    found = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        message = str(item["msg"])
        if item["type"] == "string_pattern_mismatch":
            message = "contains a NUL character (\\u0000), which cannot be stored"
        found.append(f"'{where}': {message}")
    return found


def _event(raw: bytes) -> Event:
    if not raw.strip():
        raise Refusal(["the body is empty: send an event as a JSON object"])
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise Refusal([f"the body is not valid JSON: {error}"]) from None
    if not isinstance(document, dict):
        raise Refusal([f"the body must be a JSON object, not {type(document).__name__}"])
    try:
        event = Event.model_validate(document)
    except ValidationError as error:
        raise Refusal(_errors(error)) from None
    if event.event_action == "trigger" and event.payload is None:
        raise Refusal(["'payload' is required for a trigger event"])
    if event.event_action == "trigger" and event.payload is not None and not event.payload.summary.strip(BLANK):
        raise Refusal(["'payload.summary' is blank: it is what people read when paged"])
    if event.event_action != "trigger" and event.dedup_key is None:
        raise Refusal([f"'dedup_key' is required for a {event.event_action} event"])
    return event


def _source(request: Request, event: Event) -> str:
    app = application(request)
    source = app.tokens.source_for(event.routing_key.strip())
    if source is None:
        raise Refusal(["'routing_key' belongs to no configured source"], "Invalid routing key")
    kind = app.config.sources[source].kind
    if kind != "pagerduty":
        raise Refusal([f"'routing_key' is the token of source {source!r} of kind {kind!r}, not pagerduty"])
    return source


def _links(event: Event) -> tuple[tuple[str, str], ...]:
    links = [(link.text or "link", link.href) for link in event.links]
    links += [(image.alt or "image", image.href or image.src) for image in event.images]
    if event.client_url:
        links.append((event.client or "client", event.client_url))
    return tuple(links)


def trigger(event: Event, source: str, key: str, overrides: Mapping[str, str]) -> Alarm:
    payload = event.payload
    assert payload is not None  # _event checked it
    labels: Labels = {"source": payload.source, "severity": payload.severity}
    labels |= {name: value for name, value in (("component", payload.component), ("group", payload.group)) if value}
    if payload.class_:
        labels["class"] = payload.class_
    details = [f"source: {payload.source}"]
    details += [f"{n}: {v}" for n, v in (("at", payload.timestamp), ("sent by", event.client)) if v]
    if payload.custom_details:
        details.append(json.dumps(payload.custom_details, indent=2, sort_keys=True, ensure_ascii=False))
    links = _links(event)
    details += [f"{what}: {url}" for what, url in links]
    return Alarm(
        source=source,
        dedup_key=key,
        status=AlarmStatus.FIRING,
        severity=severity("pagerduty", payload.severity, overrides),
        summary=payload.summary.strip()[:1000],
        details="\n".join(details)[:20_000],
        labels=labels,
        links=links,
    )


def _schema() -> dict[str, Any]:
    schema = _inline(Event.model_json_schema(by_alias=True))
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "description": "The credential is the body's `routing_key`: the token of a source of kind pagerduty.",
    }


RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": Success, "description": "Committed"},
    400: {"model": InvalidEvent, "description": "Invalid event or unknown routing key (nothing stored)"},
    **responses(413),
}


@router.post(
    "/enqueue",
    status_code=202,
    summary="PagerDuty Events API v2: send an alert event",
    openapi_extra=_schema(),
    responses=RESPONSES,
    response_model=None,
)
async def enqueue(request: Request) -> Any:
    try:
        event = _event(await request.body())
        source = _source(request, event)
    except Refusal as refusal:
        return invalid(refusal)
    app = application(request)
    key = event.dedup_key or uuid.uuid4().hex
    if event.event_action == "trigger":
        await _store(app.ingest, [trigger(event, source, key, app.config.sources[source].severity_map)])
    elif event.event_action == "resolve":
        alarm = Alarm(source, key, AlarmStatus.RESOLVED, "info", "resolved in the sending tool")
        await _store(app.ingest, [alarm])
    else:
        how = f"source {source} (pagerduty event)"
        await run_in_threadpool(
            acknowledge_from_source, app.store, app.clock, app.escalator, source, key, how, client_address(request)
        )
    return JSONResponse({"status": "success", "message": "Event processed", "dedup_key": key}, 202)


# Left out of the OpenAPI document: it accepts nothing, so there is no request to describe.
@router.post("/change/enqueue", include_in_schema=False)
async def change_enqueue() -> Any:
    refusal = Refusal(
        [
            "change events are not supported: memoguard takes alert events only (POST /api/v1/integrations"
            "/pagerduty/v2/enqueue)"
        ],
        "Change events are not supported",
    )
    return invalid(refusal)
