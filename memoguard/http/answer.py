"""The 200 answers of the incident and on-call routes, for the OpenAPI document.

The routes return the dicts of services/view.py and services/oncall.py (one shape for the API and the
CLI); these models only describe them (``responses={200: …}``), so answering costs no validation. The
schemathesis run (tests/integration/test_openapi_contract.py) checks every answer against them. Keys may
be added to an answer (scripts must ignore keys they do not know); none is removed or changes type.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memoguard.domain.incident import IncidentState


class IncidentSummary(BaseModel):
    id: str
    state: IncidentState
    summary: str
    severity: str
    policy: str
    source: str
    dedup_key: str
    opened_at: str = Field(json_schema_extra={"format": "date-time"})
    updated_at: str = Field(json_schema_extra={"format": "date-time"})
    resolved_at: str | None = Field(json_schema_extra={"format": "date-time"})
    step: int | None = Field(description="The step paged last, from 1; null before the first.")
    steps: int
    cycle: int
    crisis: bool
    paged: list[str]
    acknowledged_by: list[str]
    confirmed_by: list[str]
    alarms: int


class TimelineEntry(BaseModel):
    at: str = Field(json_schema_extra={"format": "date-time"})
    kind: str
    text: str
    person: str | None


class Receipt(BaseModel):
    state: str = Field(description="As the network said it: DELIVRD, UNDELIV, ENROUTE…")
    delivered: bool | None = Field(description="null while in progress.")
    at: str | None = Field(json_schema_extra={"format": "date-time"})


class NotificationView(BaseModel):
    id: int
    person: str
    channel: str
    channels: list[str]
    purpose: str
    reason: str
    step: int | None
    status: str
    attempts: int = Field(description="Calls made to providers for it, from 1 for the first, kept across a failover.")
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    sent_at: str | None
    provider: str | None
    provider_index: int = Field(description="Which of its channel's providers took it, or is tried (from 0).")
    error: str | None = Field(description="The last error, only while it applies (not once sent).")
    receipt: Receipt | None = Field(description="The network's word on the send that went out, while sent.")
    text: str


class PendingTimer(BaseModel):
    kind: str
    due_at: str = Field(json_schema_extra={"format": "date-time"})
    version: int


class IncidentDetail(IncidentSummary):
    timeline: list[TimelineEntry]
    notifications: list[NotificationView]
    timers: list[PendingTimer]


class IncidentList(BaseModel):
    incidents: list[IncidentSummary]


class ActionResult(BaseModel):
    changed: bool = Field(description="False when the action was a repeat (recorded, nothing else).")
    messages: list[str]
    incident: IncidentSummary


class Stretch(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    roster: str
    level: str
    person: str | None = Field(description="Null in a gap: nobody on call.")
    source: str | None = Field(description="The layer, or the override, that puts them there.")
    from_: str | None = Field(alias="from", json_schema_extra={"format": "date-time"})
    until: str | None = Field(json_schema_extra={"format": "date-time"})


class OnCall(BaseModel):
    at: str = Field(json_schema_extra={"format": "date-time"})
    oncall: list[Stretch]


def ok(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": description}}
