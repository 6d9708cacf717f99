"""Incidents: list, show with the whole timeline, and act (ack, confirm, resolve, escalate)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from memoguard.domain.incident import IncidentState
from memoguard.http.state import application
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.error import Invalid, NotFound, Refused
from memoguard.services.view import incident_summary

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

App = Annotated[Application, Depends(application)]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: str = Field(min_length=1, description="Who acts: a person of memoguard.yaml.")


@router.get("", summary="List incidents, newest first")
def list_incidents(
    app: App,
    state: Annotated[list[IncidentState] | None, Query(description="Only these states (repeatable).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    return {"incidents": app.incidents.list(state or (), limit)}


@router.get("/{incident_id}", summary="One incident with its timeline, notifications and pending timers")
def show_incident(incident_id: str, app: App) -> dict[str, Any]:
    try:
        return app.incidents.show(incident_id)
    except NotFound as error:
        raise HTTPException(404, str(error)) from None


@router.post("/{incident_id}/{verb}", summary="Acknowledge, confirm, resolve or escalate")
def act(incident_id: str, verb: Verb, body: ActionBody, app: App) -> dict[str, Any]:
    try:
        outcome = app.actions.act(incident_id, verb, body.person, "api")
    except NotFound as error:
        raise HTTPException(404, str(error)) from None
    except Invalid as error:
        raise HTTPException(422, str(error)) from None
    except Refused as error:
        raise HTTPException(409 if error.closed else 403, str(error)) from None
    with app.store.read() as unit:
        row = unit.incident_row(outcome.incident.id)
    assert row is not None
    return {
        "changed": outcome.changed,
        "messages": [r.text for r in outcome.records],
        "incident": incident_summary(row),
    }
