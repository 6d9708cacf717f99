"""Grafana unified alerting's webhook contact point: a source of kind ``grafana``.

Grafana posts ``{"version": "1", "status", "alerts": [...], ...}`` to the contact point's URL,
``<memoguard>/api/v1/integrations/grafana``, with either ``Authorization: Bearer <token>`` (the contact
point's "Authorization header" credentials, scheme Bearer) or HTTP basic auth (its "Basic Authentication"
user and password): both are accepted, the password being the source's token and the user anything, since
Grafana's form makes people fill one in. The token is checked before the body is read, as on the other
ingestion routes.

Each alert of the body is one alarm, as from Alertmanager (Grafana's notifier is Alertmanager's code): the
fingerprint is the dedup key, ``firing``/``resolved`` the status, the ``severity`` label the severity
(mapped, domain/severity.py), the labels the alarm's labels (routes match on them). The links Grafana
gives (rule, silence, dashboard, panel, image) are kept: in the alarm's details, and on the incident's
timeline when an alert opens one (``links``), so whoever is paged finds the dashboard and the silence
form from the incident. Fields memoguard has no use for (``values``, ``orgId``, the deprecated ``title``,
``state`` and ``message``) are ignored, not refused, since Grafana adds fields across releases.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from memoguard.domain.severity import DEFAULT, severity
from memoguard.http.alarm import RESPONSES, _body_schema, _parse, _store
from memoguard.http.payload import MAX_ALERTS, Count, Labels, Text
from memoguard.http.problem import refuse
from memoguard.http.state import application
from memoguard.services.record import Alarm, AlarmStatus

router = APIRouter(prefix="/api/v1/integrations", tags=["alarms"])

# The links of an alert, in the order they are shown: (field, what it is called on the timeline).
LINKS = (
    ("generatorURL", "rule"),
    ("dashboardURL", "dashboard"),
    ("panelURL", "panel"),
    ("silenceURL", "silence"),
    ("imageURL", "image"),
)


class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: Text | None = None
    endsAt: Text | None = None
    fingerprint: Text = Field(min_length=1, max_length=255, description="The dedup key.")
    generatorURL: Text = ""
    silenceURL: Text = ""
    dashboardURL: Text = ""
    panelURL: Text = ""
    imageURL: Text = ""
    valueString: Text = Field(default="", description="The values that made the rule fire, as Grafana words them.")

    def links(self) -> tuple[tuple[str, str], ...]:
        found = ((name, getattr(self, field)) for field, name in LINKS)
        return tuple((name, url) for name, url in found if url)

    def alarm(self, source: str, overrides: Mapping[str, str]) -> Alarm:
        name = self.labels.get("alertname", "alert")
        summary = self.annotations.get("summary") or self.annotations.get("description") or name
        details = [self.annotations.get("description", "")]
        details += [
            f"{key}: {value}"
            for key, value in sorted(self.annotations.items())
            if key not in ("summary", "description")
        ]
        if self.valueString:
            details.append(f"values: {self.valueString}")
        if self.startsAt:
            details.append(f"since: {self.startsAt}")
        links = self.links()
        details += [f"{what}: {url}" for what, url in links]
        return Alarm(
            source=source,
            dedup_key=self.fingerprint,
            status=AlarmStatus(self.status),
            severity=severity("grafana", self.labels.get("severity", DEFAULT), overrides),
            summary=summary.strip()[:1000] or name,
            details="\n".join(d for d in details if d)[:20_000],
            labels=self.labels,
            links=links,
        )


class GrafanaPayload(BaseModel):
    """Grafana's webhook body (payload version 1, Grafana 8 and later)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    version: Literal["1"] = Field(description="Only payload version 1 (Grafana unified alerting) is understood.")
    status: Literal["firing", "resolved"]
    receiver: Text = ""
    groupKey: Text = ""
    externalURL: Text = ""
    truncatedAlerts: Count = Field(default=0, ge=0, description="How many alerts Grafana left out.")
    alerts: list[GrafanaAlert] = Field(max_length=MAX_ALERTS)


def _token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` or the password of basic auth; None without either."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return None
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, password = decoded.partition(":")
        return password.strip() or None if colon else None
    return None


def grafana_source(request: Request) -> str:
    """The grafana source the request's token belongs to; 401 or 403 (nothing stored) otherwise."""
    app = application(request)
    token = _token(request)
    challenge = {"WWW-Authenticate": 'Bearer, Basic realm="memoguard"'}
    if token is None:
        raise refuse(
            401,
            "missing token: send 'Authorization: Bearer <source token>', or basic auth with the token as password",
            ["header", "authorization"],
            headers=challenge,
        )
    source = app.tokens.source_for(token)
    if source is None:
        raise refuse(
            401,
            "invalid token: it belongs to no configured source",
            ["header", "authorization"],
            "invalid_token",
            headers=challenge,
        )
    kind = app.config.sources[source].kind
    if kind != "grafana":
        raise refuse(403, f"source {source!r} is of kind {kind!r}, not grafana", ["header", "authorization"])
    return source


def _schema() -> dict[str, Any]:
    schema = _body_schema(GrafanaPayload)
    schema["description"] = (
        "Credentials: `Authorization: Bearer <token of a grafana source>`, or HTTP basic auth with that "
        "token as the password (any user name)."
    )
    return schema


@router.post(
    "/grafana",
    summary="Grafana alerting webhook contact point (payload version 1)",
    openapi_extra=_schema(),
    responses=RESPONSES,
    response_model=None,
)
async def post_grafana(request: Request) -> dict[str, Any]:
    source = grafana_source(request)
    body = await _parse(request, GrafanaPayload)
    overrides = application(request).config.sources[source].severity_map
    return await _store(application(request).ingest, [alert.alarm(source, overrides) for alert in body.alerts])
