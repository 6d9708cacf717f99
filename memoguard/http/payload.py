"""Request bodies: the generic alarm and Alertmanager's webhook (payload version 4).

Types are strict (no number where the schema says a string, no ``false`` where it says an integer), so the
OpenAPI document generated from these models says exactly what is accepted. Every string that is stored is
:data:`Text`: it refuses the NUL character, which PostgreSQL cannot store in text (psycopg's DataError, a
500) and SQLite would keep, so both databases answer the same 422 naming the field (for a label's name,
its path ends in ``[key]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from memoguard.domain.severity import severity
from memoguard.services.record import Alarm, AlarmStatus

MAX_ALERTS = 1000
NO_NUL = "^[^\\u0000]*$"  # the JSON Schema pattern (ECMA 262) of a string without U+0000


# Checked by pydantic's own (Rust) pattern matching: a Python validator per string cost an Alertmanager body
# of 100 alerts 40 % more validation time, this 15 %. problem.py words its error ("nul_character").
Text = Annotated[str, Field(pattern=NO_NUL)]


def _integral(value: Any) -> Any:
    # JSON Schema's integer includes 3.0: let it through the strict check as 3 (true and "3" are still refused).
    return int(value) if isinstance(value, float) and value.is_integer() else value


Count = Annotated[int, BeforeValidator(_integral)]
# A mapping's keys: checked the same, documented by the mapping's ``propertyNames`` (see Labels).
Key = Annotated[str, Field(pattern=NO_NUL)]
Labels = Annotated[dict[Key, Text], Field(json_schema_extra={"propertyNames": {"pattern": NO_NUL}})]


BLANK = " \t\n\r\f\v"  # spelled out: Python's and JSON Schema's ``\s`` differ beyond ASCII


def _summary_rule(schema: dict[str, Any]) -> None:
    """``GenericAlarm._summary_when_firing`` in JSON Schema: unless ``status`` is ``resolved``, ``summary``
    is required and holds something other than white space."""
    schema["if"] = {"properties": {"status": {"const": "resolved"}}, "required": ["status"]}
    schema["else"] = {"properties": {"summary": {"pattern": "[^ \\t\\n\\r\\f\\v]"}}, "required": ["summary"]}


class GenericAlarm(BaseModel):
    """One alarm. ``dedup_key`` groups alarms into one incident while it is open."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_summary_rule)

    source: Text | None = Field(default=None, description="Defaults to the source the token belongs to.")
    dedup_key: Text = Field(min_length=1, max_length=255)
    status: Literal["firing", "resolved"] = "firing"
    severity: Text = Field(default="warning", min_length=1, max_length=50)
    summary: Text = Field(
        default="",
        max_length=1000,
        validate_default=True,
        description="What people read when paged: required, not blank, when the alarm is firing.",
    )
    details: Text = Field(default="", max_length=20_000)
    labels: Labels = Field(default_factory=dict, max_length=100)

    @field_validator("summary")
    @classmethod
    def _summary_when_firing(cls, summary: str, info: ValidationInfo) -> str:
        if info.data.get("status") == "firing" and not summary.strip(BLANK):  # absent when status is invalid
            raise PydanticCustomError(
                "summary_required", "a firing alarm needs a summary: what people will read when paged"
            )
        return summary

    def alarm(self, source: str, overrides: Mapping[str, str] | None = None) -> Alarm:
        return Alarm(
            source=source,
            dedup_key=self.dedup_key,
            status=AlarmStatus(self.status),
            severity=severity("generic", self.severity, overrides),
            summary=self.summary.strip() or self.dedup_key,
            details=self.details,
            labels=self.labels,
        )


class AlertmanagerAlert(BaseModel):
    # Alertmanager adds fields across releases: unknown ones are ignored, not refused.
    model_config = ConfigDict(extra="ignore", strict=True)

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: Text | None = None
    endsAt: Text | None = None
    generatorURL: Text | None = None
    fingerprint: Text = Field(min_length=1, max_length=255)

    def alarm(self, source: str, overrides: Mapping[str, str] | None = None) -> Alarm:
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
            severity=severity("alertmanager", self.labels.get("severity", "warning"), overrides),
            summary=summary[:1000],
            details="\n".join(d for d in details if d),
            labels=self.labels,
        )


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    version: Literal["4"] = Field(description="Only payload version 4 (Alertmanager 0.x) is understood.")
    status: Literal["firing", "resolved"]
    receiver: Text = ""
    groupKey: Text = ""
    truncatedAlerts: Count = Field(default=0, ge=0, description="How many alerts Alertmanager left out.")
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_ALERTS)
