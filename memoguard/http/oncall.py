"""Who is on call, with overrides stored in the database applied (a person's API token required)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from memoguard.domain.errors import UnknownLevelError
from memoguard.http.answer import OnCall, ok
from memoguard.http.auth import Who
from memoguard.http.problem import refuse, responses
from memoguard.http.state import application
from memoguard.services.application import Application
from memoguard.services.oncall import everyone

router = APIRouter(prefix="/api/v1", tags=["on call"])

App = Annotated[Application, Depends(application)]

# RFC 3339's date-time, what JSON Schema's ``format: date-time`` means: the offset is required, and neither
# a bare date, a number (a Unix time to pydantic) nor the other spellings of ISO 8601 are accepted.
INSTANT = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:[0-5]\d:[0-5]\d(\.\d+)?([Zz]|[+-]\d{2}:[0-5]\d)$"


def _instant(text: str) -> datetime:
    if re.fullmatch(INSTANT, text, re.ASCII):
        try:
            return datetime.fromisoformat(text.upper())
        except ValueError:
            pass
    raise refuse(
        422, f"{text!r} is not an instant with an offset: give 2026-11-21T03:00:00+01:00 or …Z", ["query", "at"]
    )


@router.get(
    "/oncall",
    summary="Who is on call now (or at an instant), per roster and level",
    response_model=None,
    responses={**ok(OnCall, "Who is on call, per roster and level"), **responses(401, 404, 422, 429)},
)
def oncall(
    app: App,
    _: Who,
    roster: Annotated[str | None, Query(description="Only this roster.")] = None,
    level: Annotated[str | None, Query(description="Only this level (primary, secondary…).")] = None,
    at: Annotated[
        str | None,
        Query(
            description="An RFC 3339 instant with its offset (2026-11-21T03:00:00+01:00 or …Z); default now.",
            json_schema_extra={"format": "date-time", "pattern": INSTANT},  # checked by _instant, saying why
        ),
    ] = None,
) -> dict[str, Any]:
    when = app.clock.now() if at is None else _instant(at)
    rosters = app.overrides.rosters()
    if roster is not None and roster not in rosters:
        raise refuse(404, f"unknown roster {roster!r} (rosters: {', '.join(sorted(rosters))})", ["query", "roster"])
    chosen = [rosters[roster]] if roster else list(rosters.values())
    try:
        rows = everyone(chosen, when, level)
    except UnknownLevelError as error:
        raise refuse(404, str(error), ["query", "level"]) from None
    for row in rows:
        for key in ("from", "until"):
            row[key] = None if row[key] is None else row[key].isoformat()
    return {"at": when.isoformat(), "oncall": rows}
