"""Who is on call, with overrides stored in the database applied."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from memoguard.domain.errors import UnknownLevelError
from memoguard.http.state import application
from memoguard.services.application import Application
from memoguard.services.oncall import everyone

router = APIRouter(prefix="/api/v1", tags=["on call"])

App = Annotated[Application, Depends(application)]


@router.get("/oncall", summary="Who is on call now (or at an instant), per roster and level")
def oncall(
    app: App,
    roster: Annotated[str | None, Query(description="Only this roster.")] = None,
    level: Annotated[str | None, Query(description="Only this level (primary, secondary…).")] = None,
    at: Annotated[datetime | None, Query(description="ISO 8601 instant with an offset; default now.")] = None,
) -> dict[str, Any]:
    if at is not None and at.tzinfo is None:
        raise HTTPException(422, "at: give an offset (2026-11-21T03:00:00+01:00 or …Z)")
    when = at or app.clock.now()
    rosters = app.overrides.rosters()
    if roster is not None and roster not in rosters:
        raise HTTPException(404, f"unknown roster {roster!r} (rosters: {', '.join(sorted(rosters))})")
    chosen = [rosters[roster]] if roster else list(rosters.values())
    try:
        rows = everyone(chosen, when, level)
    except UnknownLevelError as error:
        raise HTTPException(404, str(error)) from None
    for row in rows:
        for key in ("from", "until"):
            row[key] = None if row[key] is None else row[key].isoformat()
    return {"at": when.isoformat(), "oncall": rows}
