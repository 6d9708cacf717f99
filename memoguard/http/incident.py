"""Incidents: list, show with the whole timeline, and act (ack, confirm, resolve, escalate)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from memoguard.domain.incident import IncidentState
from memoguard.http.answer import ActionResult, IncidentDetail, IncidentList, ok
from memoguard.http.payload import Text
from memoguard.http.problem import refuse, responses
from memoguard.http.state import application
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.view import incident_summary

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

App = Annotated[Application, Depends(application)]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    person: Text = Field(min_length=1, description="Who acts: a person of memoguard.yaml.")


@router.get(
    "",
    summary="List incidents, newest first",
    response_model=None,
    responses={**ok(IncidentList, "Incidents, newest first"), **responses(422)},
)
def list_incidents(
    app: App,
    state: Annotated[list[IncidentState] | None, Query(description="Only these states (repeatable).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"incidents": app.incidents.list(state or (), limit)}


@router.get(
    "/{incident_id}",
    summary="One incident with its timeline, notifications and pending timers",
    response_model=None,
    responses={**ok(IncidentDetail, "The incident"), **responses(404, 422)},
)
def show_incident(incident_id: str, app: App) -> dict[str, Any]:
    try:
        return app.incidents.show(incident_id)
    except NotFound as error:
        raise refuse(404, str(error), ["path", "incident_id"]) from None


@router.post(
    "/{incident_id}/{verb}",
    summary="Acknowledge, confirm, resolve or escalate",
    response_model=None,
    responses={**ok(ActionResult, "Done, or a recorded repeat"), **responses(400, 403, 404, 409, 413, 422)},
)
def act(incident_id: str, verb: Verb, body: ActionBody, app: App) -> dict[str, Any]:
    try:
        outcome = app.actions.act(incident_id, verb, body.person, "api")
    except NotFound as error:
        raise refuse(404, str(error), ["path", "incident_id"]) from None
    except Invalid as error:  # an unknown person: not someone who may act (the schema cannot list people)
        raise refuse(403, str(error), ["body", "person"]) from None
    except Refused as error:
        where = ["path", "incident_id"] if error.closed else ["body", "person"]
        raise refuse(409 if error.closed else 403, str(error), where) from None
    with app.store.read() as unit:
        row = unit.incident_row(outcome.incident.id)
    assert row is not None
    return {
        "changed": outcome.changed,
        "messages": [r.text for r in outcome.records],
        "incident": incident_summary(row),
    }
