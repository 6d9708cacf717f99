"""Maintenance windows (silences) over the API: list them (any person's token), add and remove them (an
admin's token: issue 23's roles). Every add and remove is audited with the token's person, its name and
the client's address (services/silences.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from memoguard.domain.duration import parse_duration
from memoguard.domain.errors import InvalidValueError
from memoguard.domain.walltime import parse_local_datetime
from memoguard.http.answer import ok
from memoguard.http.auth import Who, client_address
from memoguard.http.payload import Text
from memoguard.http.problem import refuse, responses
from memoguard.http.state import application
from memoguard.services.access import Context, Credential
from memoguard.services.application import Application
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.silences import parse_matches

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])

App = Annotated[Application, Depends(application)]


class SilenceView(BaseModel):
    id: str = Field(description="A number, or yaml:NAME for the recurring windows of memoguard.yaml")
    match: str
    sources: list[str]
    severities: list[str]
    labels: dict[str, str]
    comment: str
    recurring: bool
    active: bool
    starts_at: str | None = Field(json_schema_extra={"format": "date-time"}, description="This or the next occurrence")
    ends_at: str | None = Field(json_schema_extra={"format": "date-time"})
    created_by: str | None
    removed_at: str | None = Field(json_schema_extra={"format": "date-time"})


class SilenceList(BaseModel):
    silences: list[SilenceView]


class NewSilence(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    match: list[Annotated[Text, Field(min_length=3, max_length=500)]] = Field(
        min_length=1,
        max_length=50,
        description="KEY=VALUE: source=NAME and severity=S match those, any other key a label (host=db1)",
    )
    duration: Text = Field(alias="for", min_length=2, max_length=20, description="How long: 30m, 2h, 1d")
    start: Text | None = Field(
        default=None,
        alias="from",
        min_length=1,
        max_length=40,
        description="When it starts (default now): ISO 8601 with an offset (2026-12-06T02:00:00+01:00), or "
        "'YYYY-MM-DD HH:MM' in memoguard.yaml's time zone; at most 366 days ahead",
    )
    comment: Text = Field(min_length=1, max_length=1000, description="Why: shown on every incident it holds")


def _admin(who: Credential, verb: str) -> None:
    if not who.admin:
        raise refuse(403, f"{who.person} may not {verb} a silence: only an admin may", ["header", "authorization"])


@router.get(
    "",
    summary="Maintenance windows: memoguard.yaml's and those not over",
    response_model=None,
    responses={**ok(SilenceList, "The silences"), **responses(401, 422, 429)},
)
def list_silences(
    app: App, _: Who, everything: Annotated[bool, Query(description="Past and removed ones too.")] = False
) -> dict[str, Any]:
    return {"silences": [view.describe() for view in app.silences.list(everything)]}


@router.post(
    "",
    summary="Add a maintenance window, from now or a given start (admin)",
    response_model=None,
    responses={**ok(SilenceView, "Added"), **responses(400, 401, 403, 413, 422, 429)},
)
def add_silence(app: App, who: Who, request: Request, body: NewSilence) -> dict[str, Any]:
    _admin(who, "add")
    try:
        length = parse_duration(body.duration)
    except InvalidValueError as error:
        raise refuse(422, str(error), ["body", "for"]) from None
    start = None
    if body.start is not None:
        try:
            start = parse_local_datetime(body.start, app.config.timezone)
        except InvalidValueError as error:
            raise refuse(422, f"from: {error}", ["body", "from"]) from None
    context = Context(f"token {who.name}", client_address(request), who.person)
    try:
        made = app.silences.add(parse_matches(body.match), length, body.comment, context, start)
    except Invalid as error:
        raise refuse(422, str(error), ["body"]) from None
    (view,) = [v for v in app.silences.list(True) if v.silence.id == made.id]
    return view.describe()


@router.delete(
    "/{silence_id}",
    summary="Remove a maintenance window (admin); incidents only it held escalate now",
    response_model=None,
    responses={**ok(SilenceView, "Removed (or already removed)"), **responses(401, 403, 404, 409, 422, 429)},
)
def remove_silence(silence_id: str, app: App, who: Who, request: Request) -> dict[str, Any]:
    _admin(who, "remove")
    context = Context(f"token {who.name}", client_address(request), who.person)
    try:
        removed = app.silences.remove(silence_id, context)
    except NotFound as error:
        raise refuse(404, str(error), ["path", "silence_id"]) from None
    except Refused as error:
        raise refuse(409, str(error), ["path", "silence_id"]) from None
    (view,) = [v for v in app.silences.list(True) if v.silence.id == removed.id]
    return view.describe()
