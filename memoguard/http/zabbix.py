"""Alarms from Zabbix: a source of kind ``zabbix``, fed by the webhook media type of contrib/zabbix/.

Zabbix has no webhook body of its own: a webhook media type runs a JavaScript that builds whatever the
receiver wants. contrib/zabbix/memoguard_mediatype.yaml is that media type; its script posts the body
below to ``<memoguard>/api/v1/integrations/zabbix`` with ``Authorization: Bearer <source token>``:

``{"event_id": "{EVENT.ID}", "trigger_id": "{TRIGGER.ID}", "status": "problem"|"recovery"|"update",
"severity": "{EVENT.NSEVERITY}", "host": "{HOST.NAME}", "name": "{EVENT.NAME}", "tags": [{"tag", "value"}],
"message": …, "url": …}``

Decisions:

- The dedup key is the problem's event id. Zabbix sends a recovery with the id of the problem it ends
  ({EVENT.ID} in a recovery operation is the problem event's), so the recovery resolves that incident; a
  trigger generating several problem events opens several incidents, as Zabbix shows several problems.
- ``update`` (a problem acknowledged, commented, its severity changed in Zabbix) is written on the open
  incident's timeline and changes nothing else, like an Opsgenie acknowledge (services/note.py): in
  memoguard only a person takes an incident.
- The severity is Zabbix's number, 0 (not classified) to 5 (disaster), since its names are renamed and
  translated per installation; a name (``disaster``, ``not_classified``…) is accepted too. Mapped by
  domain/severity.py and the source's ``severity_map``, named by its level names.
- Tags become labels (``tag: value``; a repeated tag's values joined by commas), with ``host`` and
  ``trigger_id``, so routes match on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool

from memoguard.domain.severity import ZABBIX_LEVELS, severity
from memoguard.http.alarm import RESPONSES, _body_schema, _parse, _store
from memoguard.http.auth import authenticate
from memoguard.http.payload import BLANK, Text
from memoguard.http.problem import refuse
from memoguard.http.state import application
from memoguard.services.note import note_from_source
from memoguard.services.record import Alarm, AlarmStatus

router = APIRouter(prefix="/api/v1/integrations", tags=["alarms"])


class Tag(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    tag: Text = Field(min_length=1, max_length=255)
    value: Text = Field(default="", max_length=255)


class ZabbixEvent(BaseModel):
    """What contrib/zabbix's media type posts for a problem, its recovery or an update."""

    model_config = ConfigDict(extra="ignore", strict=True)

    event_id: str = Field(min_length=1, max_length=64, pattern="^[0-9]+$", description="{EVENT.ID}: the dedup key.")
    trigger_id: Text = Field(default="", max_length=64, description="{TRIGGER.ID}")
    status: Literal["problem", "recovery", "update"]
    severity: Literal[
        "0", "1", "2", "3", "4", "5", "not_classified", "information", "warning", "average", "high", "disaster"
    ] = Field(default="0", description="{EVENT.NSEVERITY}, 0 (not classified) to 5 (disaster), or the level's name.")
    host: Text = Field(default="", max_length=255)
    name: Text = Field(
        min_length=1,
        max_length=1000,
        description="{EVENT.NAME}: what people read when paged.",
        json_schema_extra={"not": {"pattern": "^[ \\t\\n\\r\\f\\v]*$"}},
    )
    message: Text = Field(default="", max_length=20_000)
    url: Text = Field(default="", max_length=2000, description="The problem in Zabbix's frontend.")
    tags: list[Tag] = Field(default_factory=list, max_length=100)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, name: str) -> str:
        if not name.strip(BLANK):
            raise PydanticCustomError("name_required", "the event name is blank: it is what people read when paged")
        return name

    def level(self) -> str:
        return ZABBIX_LEVELS[int(self.severity)] if self.severity.isdigit() else self.severity

    def alarm(self, source: str, overrides: Mapping[str, str]) -> Alarm:
        labels: dict[str, str] = {}
        for tag in self.tags:
            labels[tag.tag] = f"{labels[tag.tag]},{tag.value}" if tag.tag in labels else tag.value
        labels |= {n: v for n, v in (("host", self.host), ("trigger_id", self.trigger_id)) if v}
        labels["zabbix_severity"] = self.level()
        details = [self.message]
        details += [f"{n}: {v}" for n, v in (("host", self.host), ("trigger", self.trigger_id)) if v]
        links = (("zabbix", self.url),) if self.url else ()
        details += [f"{what}: {url}" for what, url in links]
        return Alarm(
            source=source,
            dedup_key=self.event_id,
            status=AlarmStatus.RESOLVED if self.status == "recovery" else AlarmStatus.FIRING,
            severity=severity("zabbix", self.level(), overrides),
            summary=self.name.strip()[:1000],
            details="\n".join(d for d in details if d)[:20_000],
            labels=labels,
            links=links,
        )


@router.post(
    "/zabbix",
    summary="Zabbix webhook media type (contrib/zabbix/)",
    openapi_extra=_body_schema(ZabbixEvent),
    responses=RESPONSES,
    response_model=None,
)
async def post_zabbix(request: Request) -> dict[str, Any]:
    app = application(request)
    source = authenticate(request, app.tokens)
    kind = app.config.sources[source].kind
    if kind != "zabbix":
        raise refuse(403, f"source {source!r} is of kind {kind!r}, not zabbix", ["header", "authorization"])
    event = await _parse(request, ZabbixEvent)
    if event.status == "update":
        text = f"{source}: the problem was updated in Zabbix (not a person's ack: paging goes on)"
        if event.message.strip():
            text += f": {event.message.strip()}"
        await run_in_threadpool(note_from_source, app.store, app.clock, source, event.event_id, text[:2000])
        return {"alarms": []}
    return await _store(app.ingest, [event.alarm(source, app.config.sources[source].severity_map)])
