"""``GET /console/events``: the web console's live feed as server-sent events (issue 18).

Each event is one timeline entry (services/feed.py) with the entry's id as the event's ``id``. A browser's
EventSource reconnects by itself and sends the last id it saw in ``Last-Event-ID``: the stream resumes
after it, so a dropped connection (a phone leaving Wi-Fi) misses nothing. A page gives its first cursor
(``?after=N``, the newest entry when it was rendered) so nothing between rendering and connecting is lost.

Authenticated like any API read (a web session's cookie or a personal token: http/auth.py): the
entries name hosts and people. The stream polls the store (``POLL``) rather than waiting on the
engine's wake-ups, which are per instance, while changes may come from another instance sharing the
database. It ends after ``LIFETIME`` polls or when the service stops; the browser then reconnects,
which also keeps a session's idle expiry honest. A comment line every ``KEEPALIVE`` polls keeps
proxies from closing an idle stream; as often, a stream opened with a web session checks that the session
still holds (signed out elsewhere, it ends at once rather than at its lifetime's end).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from memoguard.http.auth import SESSION_COOKIE, Who
from memoguard.http.problem import refuse
from memoguard.http.state import wiring
from memoguard.services.feed import Feed
from memoguard.services.record import TimelineEntry

router = APIRouter(include_in_schema=False)

POLL = 1.0  # seconds between reads of the timeline when nothing came
KEEPALIVE = 15  # polls without an event before a comment line
LIFETIME = 600  # polls before the stream ends (the browser reconnects with Last-Event-ID)
RETRY_MS = 2000  # the browser's wait before reconnecting


def event(entry: TimelineEntry) -> str:
    data = {
        "id": entry.id,
        "incident": entry.incident,
        "kind": entry.kind,
        "text": entry.text,
        "person": entry.person,
        "at": entry.at.isoformat(),
    }
    return f"id: {entry.id}\nevent: timeline\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _cursor(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        if not value.isdigit() or len(value) > 12:
            raise refuse(422, "Last-Event-ID must be an event id of this stream (digits)", ["header", "last-event-id"])
        return int(value)
    return after or 0


@router.get("/console/events")
async def events(
    request: Request,
    _: Who,
    after: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    cursor = _cursor(last_event_id, after)
    found = wiring(request)
    cookie = request.cookies.get(SESSION_COOKIE)

    async def stream() -> AsyncIterator[str]:
        position = cursor
        yield f"retry: {RETRY_MS}\n\n"
        idle = 0
        for poll in range(LIFETIME):
            if found.stopping.is_set() or await request.is_disconnected():
                return
            # Signed out (or expired) since it connected: the stream ends; the browser's reconnect is then
            # refused like any request without a session.
            recheck = bool(cookie) and poll > 0 and poll % KEEPALIVE == 0
            if recheck and await run_in_threadpool(found.application.sessions.find, cookie or "") is None:
                return
            app = found.application
            batch = await run_in_threadpool(Feed(app.store, app.clock).after, position)
            for entry in batch.entries:
                yield event(entry)
            position = batch.cursor
            if batch.entries:
                idle = 0
                continue
            idle += 1
            if idle % KEEPALIVE == 0:
                yield ": keepalive\n\n"
            await asyncio.sleep(POLL)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
