"""Request bodies: the generic alarm and Alertmanager's webhook (payload version 4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from memoguard.services.record import Alarm, AlarmStatus

MAX_ALERTS = 1000


class GenericAlarm(BaseModel):
    """One alarm. ``dedup_key`` groups alarms into one incident while it is open."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(default=None, description="Defaults to the source the token belongs to.")
    dedup_key: str = Field(min_length=1, max_length=255)
    status: Literal["firing", "resolved"] = "firing"
    severity: str = Field(default="warning", min_length=1, max_length=50)
    summary: str = Field(default="", max_length=1000)
    details: str = Field(default="", max_length=20_000)
    labels: dict[str, str] = Field(default_factory=dict, max_length=100)

    @model_validator(mode="after")
    def _summary_when_firing(self) -> GenericAlarm:
        if self.status == "firing" and not self.summary.strip():
            raise ValueError("a firing alarm needs a summary: what people will read when paged")
        return self

    def alarm(self, source: str) -> Alarm:
        return Alarm(
            source=source,
            dedup_key=self.dedup_key,
            status=AlarmStatus(self.status),
            severity=self.severity,
            summary=self.summary.strip() or self.dedup_key,
            details=self.details,
            labels=self.labels,
        )


class AlertmanagerAlert(BaseModel):
    # Alertmanager adds fields across releases: unknown ones are ignored, not refused.
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str = Field(min_length=1, max_length=255)

    def alarm(self, source: str) -> Alarm:
        name = self.labels.get("alertname", "alert")
        instance = self.labels.get("instance")
        summary = self.annotations.get("summary") or self.annotations.get("description")
        if not summary:
            summary = f"{name} on {instance}" if instance else name
        details = [self.annotations.get("description", "")]
        details += [
            f"{key}: {value}"
            for key, value in sorted(self.annotations.items())
            if key not in ("summary", "description")
        ]
        if self.generatorURL:
            details.append(f"source: {self.generatorURL}")
        return Alarm(
            source=source,
            dedup_key=self.fingerprint,
            status=AlarmStatus(self.status),
            severity=self.labels.get("severity", "warning"),
            summary=summary[:1000],
            details="\n".join(d for d in details if d),
            labels=self.labels,
        )


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"] = Field(description="Only payload version 4 (Alertmanager 0.x) is understood.")
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_ALERTS)
