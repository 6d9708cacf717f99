"""Incidents: list, show with the whole timeline, and act (ack, confirm, resolve, escalate).

Every route takes a person's API token or web session (http/auth.py), reads included: an incident's
text names hosts and people. The acting person is the credential's, who may act on any incident; only
an admin may name another ``person``, with a ``reason``, and the timeline and the audit say both names.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from memoguard.domain.incident import IncidentState
from memoguard.http.answer import ActionResult, IncidentDetail, IncidentList, ok
from memoguard.http.auth import Who, client_address
from memoguard.http.payload import Text
from memoguard.http.problem import refuse, responses
from memoguard.http.state import application
from memoguard.services.access import Context, Credential
from memoguard.services.action import Outcome, Verb
from memoguard.services.application import Application
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.view import incident_summary

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

App = Annotated[Application, Depends(application)]


def _schema(schema: dict[str, Any]) -> None:
    # Both fields are strings when sent (null is refused like any other wrong type, since the strict
    # check needs the ``None`` of "not sent"), and ``person`` comes with a ``reason``.
    for name in ("person", "reason"):
        field = schema["properties"][name]
        (string,) = [choice for choice in field.pop("anyOf") if choice.get("type") == "string"]
        field.update(string)
        field.pop("default", None)
    schema["dependentRequired"] = {"person": ["reason"]}


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_schema)

    person: Text | None = Field(
        default=None,
        min_length=1,
        description="Only for an admin acting on behalf of another person of memoguard.yaml, with a `reason`;"
        " without it, the token's person acts.",
    )
    reason: Text | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Why an admin acts on behalf of `person` (required with `person`).",
    )

    @field_validator("person", "reason", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only a value sent reaches here (defaults are not validated): null is not "not sent".
        if value is None:
            raise ValueError("must be a string; leave the field out rather than send null")
        return value


@router.get(
    "",
    summary="List incidents, newest first",
    response_model=None,
    responses={**ok(IncidentList, "Incidents, newest first"), **responses(401, 422, 429)},
)
def list_incidents(
    app: App,
    _: Who,
    state: Annotated[list[IncidentState] | None, Query(description="Only these states (repeatable).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"incidents": app.incidents.list(state or (), limit)}


@router.get(
    "/{incident_id}",
    summary="One incident with its timeline, notifications and pending timers",
    response_model=None,
    responses={**ok(IncidentDetail, "The incident"), **responses(401, 404, 422, 429)},
)
def show_incident(incident_id: str, app: App, _: Who) -> dict[str, Any]:
    try:
        return app.incidents.show(incident_id)
    except NotFound as error:
        raise refuse(404, str(error), ["path", "incident_id"]) from None


@router.post(
    "/{incident_id}/{verb}",
    summary="Acknowledge, confirm, resolve or escalate",
    response_model=None,
    responses={
        **ok(ActionResult, "Done, or a recorded repeat"),
        **responses(400, 401, 403, 404, 409, 413, 422, 429),
    },
)
def act(
    incident_id: str, verb: Verb, app: App, who: Who, request: Request, body: ActionBody | None = None
) -> dict[str, Any]:
    body = body or ActionBody()
    outcome = perform(app, who, incident_id, verb, client_address(request), body.person, body.reason)
    with app.store.read() as unit:
        row = unit.incident_row(outcome.incident.id)
    assert row is not None
    return {
        "changed": outcome.changed,
        "messages": [r.text for r in outcome.records],
        "incident": incident_summary(row),
    }


def perform(
    app: Application,
    who: Credential,
    incident_id: str,
    verb: Verb,
    address: str,
    on_behalf: str | None = None,
    reason: str | None = None,
    channel: str = "api",
) -> Outcome:
    """The one way an HTTP credential acts on an incident, for the API and the web console alike: as
    themself, or (an admin only, with a reason) on behalf of ``on_behalf``; ``channel`` is the timeline's
    "via" ("api", "web console"). Refusals as HTTP problems."""
    person = on_behalf if on_behalf is not None else who.person
    via = channel
    if on_behalf is not None and reason is None:
        raise refuse(422, f"a reason is required to act on behalf of {person}", ["body", "reason"], "missing")
    if person != who.person:
        if not who.admin:
            msg = f"{who.person} may act only as themself: only an admin acts on behalf of {person}"
            raise refuse(403, msg, ["body", "person"])
        via = f"{channel}, by {who.person}: {reason}"
    context = Context(who.how, address, who.person, reason, any_incident=True)
    try:
        return app.actions.act(incident_id, verb, person, via, context)
    except NotFound as error:
        raise refuse(404, str(error), ["path", "incident_id"]) from None
    except Invalid as error:  # an unknown person: not someone who may act (the schema cannot list people)
        raise refuse(403, str(error), ["body", "person"]) from None
    except Refused as error:
        where = ["path", "incident_id"] if error.closed else ["body", "person"]
        raise refuse(409 if error.closed else 403, str(error), where) from None
