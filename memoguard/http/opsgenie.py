"""Alarms from tools that speak Opsgenie's Alert API: a source of kind ``opsgenie``.

Opsgenie ends on 5 April 2027. A monitoring tool configured for it (Grafana, Alertmanager's opsgenie
receiver, Zabbix, scripts) pages through memoguard once its base URL is changed to
``<memoguard>/api/v1/integrations/opsgenie`` (it appends ``/v2/alerts`` itself) and its API key to the
source's token: the same three requests, ``Authorization: GenieKey <token>``, and the same answer (202,
``{"result": "Request will be processed", "took": …, "requestId": …}``). Fields are Opsgenie's Alert API
reference's (create alert: message, alias, description, priority, tags, details, entity, source; close and
acknowledge: user, source, note); fields memoguard has no use for (responders, visibleTo, actions) are
ignored, not refused, since routing is memoguard's (routes in memoguard.yaml), not the sender's.

Decisions, each because of what the tool expects or what a person woken at night needs:

- The alias is the dedup key, as in Opsgenie. Without one, Opsgenie makes a new alert each time; here the
  message is the key instead, so a tool repeating the same alert while it lasts joins one incident rather
  than paging anew (and a close by alias cannot reach it: send an alias to close). An alias longer than a
  dedup key may be (255) is replaced by ``sha256:<hex>`` of it, the same way on create and close.
- Priority → severity: P1 critical, P2 high, P3 warning (Opsgenie's default, memoguard's too), P4 low,
  P5 info (domain/severity.py; a source's severity_map overrides it); the priority is also a label
  (``priority: P1``) for routes.
- The alias is the rest of the path up to ``/close`` or ``/acknowledge`` (a path converter of its own), so that an
  alias with a ``/`` in it (``db1/disk``, sent as is or URL-encoded as ``db1%2Fdisk``) is closed too.
- Close is a resolved alarm with that dedup key. Only ``identifierType=alias`` is accepted: memoguard hands
  out no alert ids (the answer holds a request id, as Opsgenie's does), so an ``id`` or ``tiny`` could
  only be misread; it is refused (422) rather than guessed, and the incident stays open.
- Acknowledge from a tool is answered 202 and written on the open incident's timeline
  (``source_acknowledged``, services/note.py), and changes nothing else: an ack in memoguard means a
  person has taken the incident, and a tool acking (often an automatic rule, or a person acking in some
  other tool we cannot see) must not stop paging the people on call. No open incident: nothing written.
- The token is checked before the body is read, as on the other ingestion routes; NUL characters are
  refused (payload.Text), as everywhere.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from memoguard.domain.severity import severity
from memoguard.http.alarm import _body_schema, _parse, _store
from memoguard.http.payload import BLANK, Labels, Text
from memoguard.http.problem import refuse, responses
from memoguard.http.state import application
from memoguard.services.note import note_from_source
from memoguard.services.record import Alarm, AlarmStatus

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/integrations/opsgenie/v2/alerts", tags=["alarms"])

# The OpenAPI security scheme of these routes (app.py declares it): ``Authorization: GenieKey <token>``.
GENIE_KEY = "genieKey"

MAX_KEY = 255  # a dedup key's length (GenericAlarm.dedup_key)


def dedup_key(alias: str) -> str:
    """The dedup key of an Opsgenie alias: itself, or ``sha256:<hex>`` of it when longer than a key may be."""
    if len(alias) <= MAX_KEY:
        return alias
    return "sha256:" + hashlib.sha256(alias.encode()).hexdigest()


class CreateAlert(BaseModel):
    """Opsgenie's create alert request (POST /v2/alerts)."""

    # Opsgenie's own fields memoguard does not use (responders, visibleTo, actions, user, note) are ignored.
    model_config = ConfigDict(extra="ignore", strict=True)

    message: Text = Field(
        min_length=1,
        description="What people read when paged: not blank (Opsgenie keeps 130 characters, memoguard 1000).",
        json_schema_extra={"not": {"pattern": "^[ \\t\\n\\r\\f\\v]*$"}},
    )
    alias: Text | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="The dedup key; when absent, the message is (a close by alias then cannot reach it).",
    )
    description: Text = Field(default="", max_length=15_000)
    priority: Literal["P1", "P2", "P3", "P4", "P5"] = Field(
        default="P3", description="P1 critical, P2 high, P3 warning, P4 low, P5 info."
    )
    tags: list[Text] = Field(default_factory=list, max_length=20)
    details: Labels = Field(default_factory=dict, max_length=90, description="Kept as the alarm's labels.")
    entity: Text = Field(default="", max_length=512)
    source: Text = Field(default="", max_length=100, description="Shown in the details (not memoguard's source).")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, message: str) -> str:
        if not message.strip(BLANK):
            raise PydanticCustomError("message_required", "the message is blank: it is what people read when paged")
        return message

    def alarm(self, source: str, overrides: Mapping[str, str] | None = None) -> Alarm:
        labels = dict(self.details)
        labels["priority"] = self.priority
        if self.tags:
            labels["tags"] = ",".join(self.tags)
        if self.entity:
            labels.setdefault("entity", self.entity)
        details = [self.description]
        details += [f"{name}: {value}" for name, value in (("entity", self.entity), ("sent by", self.source)) if value]
        if self.tags:
            details.append("tags: " + ", ".join(self.tags))
        message = self.message.strip()
        return Alarm(
            source=source,
            dedup_key=dedup_key(self.alias if self.alias is not None else message),
            status=AlarmStatus.FIRING,
            severity=severity("opsgenie", self.priority, overrides),
            summary=message[:1000],
            details="\n".join(d for d in details if d)[:20_000],
            labels=labels,
        )


class AlertAction(BaseModel):
    """Opsgenie's close and acknowledge requests: who did it, from where, and a note (all optional)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    user: Text = Field(default="", max_length=100)
    source: Text = Field(default="", max_length=100)
    note: Text = Field(default="", max_length=25_000)


class Accepted(BaseModel):
    """Opsgenie's answer. Here the alarms are committed before it is sent (a 2xx means committed)."""

    result: Literal["Request will be processed"]
    took: float = Field(description="Seconds spent.")
    requestId: str


RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": Accepted, "description": "Committed"},
    **responses(400, 401, 403, 413, 422, 503),
}


class _AliasConvertor(Convertor[str]):
    """The alias in the path: any characters, ``/`` and line breaks included (Starlette's ``path``
    stops at a line break, and a tool may send any alias it was given, URL-encoded)."""

    regex = "[\\s\\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("alias", _AliasConvertor())

Identifier = Annotated[
    str,
    Path(min_length=1, max_length=512, pattern="^[^\\u0000]*$", description="The alert's alias."),
]
IdentifierType = Annotated[
    Literal["alias"],
    Query(
        alias="identifierType",
        description="Only alias: memoguard gives out no alert ids, so an id or tiny id cannot be resolved.",
    ),
]


def _source(request: Request) -> str:
    """The opsgenie source the ``GenieKey`` belongs to; 401 or 403 (nothing stored) otherwise."""
    app = application(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "geniekey" or not token.strip():
        raise refuse(
            401,
            "missing API key: send 'Authorization: GenieKey <token of an opsgenie source>'",
            ["header", "authorization"],
            headers={"WWW-Authenticate": "GenieKey"},
        )
    source = app.tokens.source_for(token.strip())
    if source is None:
        raise refuse(
            401,
            "invalid API key: it belongs to no configured source",
            ["header", "authorization"],
            "invalid_token",
            headers={"WWW-Authenticate": "GenieKey"},
        )
    kind = app.config.sources[source].kind
    if kind != "opsgenie":
        raise refuse(403, f"source {source!r} is of kind {kind!r}, not opsgenie", ["header", "authorization"])
    return source


def _known_query(request: Request) -> None:
    """Close and acknowledge take ``identifierType`` and nothing else: an unknown parameter (a misspelt
    ``identifiertype``, an option of Opsgenie's that memoguard does not honour) is refused by name rather
    than ignored, as the OpenAPI document says."""
    for name in request.query_params:
        if name != "identifierType":
            raise refuse(422, f"unknown query parameter {name!r}: only identifierType=alias", ["query", name])


def _accepted(started: float) -> dict[str, Any]:
    return {
        "result": "Request will be processed",
        "took": round(time.perf_counter() - started, 3),
        "requestId": str(uuid.uuid4()),
    }


async def _action(request: Request) -> AlertAction:
    # Opsgenie's clients send ``{}`` or nothing at all for a bare close: both mean no user, source or note.
    if not (await request.body()).strip():
        return AlertAction()
    return await _parse(request, AlertAction)


def _action_schema() -> dict[str, Any]:
    schema = _body_schema(AlertAction)
    schema["requestBody"]["required"] = False
    schema["security"] = [{GENIE_KEY: []}]
    return schema


def _create_schema() -> dict[str, Any]:
    schema = _body_schema(CreateAlert)
    schema["security"] = [{GENIE_KEY: []}]
    return schema


@router.post(
    "",
    status_code=202,
    summary="Opsgenie: create alert",
    openapi_extra=_create_schema(),
    responses=RESPONSES,
    response_model=None,
)
async def create_alert(request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    source = _source(request)
    body = await _parse(request, CreateAlert)
    app = application(request)
    await _store(app.ingest, [body.alarm(source, app.config.sources[source].severity_map)])
    return _accepted(started)


@router.post(
    "/{identifier:alias}/close",
    status_code=202,
    summary="Opsgenie: close alert (by alias)",
    openapi_extra=_action_schema(),
    responses=RESPONSES,
    response_model=None,
)
async def close_alert(request: Request, identifier: Identifier, _identifier_type: IdentifierType) -> dict[str, Any]:
    started = time.perf_counter()
    source = _source(request)
    _known_query(request)
    body = await _action(request)
    who = body.user or body.source
    alarm = Alarm(
        source=source,
        dedup_key=dedup_key(identifier),
        status=AlarmStatus.RESOLVED,
        severity="info",
        summary=(f"closed in {body.source or 'the sending tool'}" + (f" by {body.user}" if body.user else ""))[:1000],
        details=body.note[:20_000],
        labels={"closed_by": who} if who else {},
    )
    await _store(application(request).ingest, [alarm])
    return _accepted(started)


@router.post(
    "/{identifier:alias}/acknowledge",
    status_code=202,
    summary="Opsgenie: acknowledge alert (noted on the timeline; pages are not stopped)",
    description="An ack from a tool is no person taking the incident: it is noted on the open incident's "
    "timeline and changes nothing else.",
    openapi_extra=_action_schema(),
    responses=RESPONSES,
    response_model=None,
)
async def acknowledge_alert(
    request: Request,
    identifier: Identifier,
    _identifier_type: IdentifierType,
) -> dict[str, Any]:
    started = time.perf_counter()
    source = _source(request)
    _known_query(request)
    body = await _action(request)
    who = f" by {body.user}" if body.user else ""
    text = f"{source} acknowledged in {body.source or 'the sending tool'}{who} (not a person's ack: paging goes on)"
    if body.note:
        text += f": {body.note}"
    app = application(request)
    incident = await run_in_threadpool(
        note_from_source, app.store, app.clock, source, dedup_key(identifier), text[:2000]
    )
    log.info("source %s acknowledged alias %r: noted on incident %s, paging goes on", source, identifier, incident)
    return _accepted(started)
