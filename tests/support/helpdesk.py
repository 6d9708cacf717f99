"""A Zendesk-compatible helpdesk served over loopback HTTP, to test the zendesk provider against.

It implements the few endpoints memoguard uses, strictly: a body that is not JSON, an unknown field, a
wrong type or an empty subject is refused with 400 and a message saying what is wrong, so a provider
that sends a malformed request fails its test rather than passing against a lenient fake.

Quotas, on the injected clock, count every request whatever its endpoint (as Zendesk does):

- per minute: fixed windows aligned on the clock's minutes (10:00:00 to 10:00:59.999…), like Zendesk's;
- per day: a rolling 24 hours, i.e. a request counts until 24 h after it was accepted.

A refused request (429, with ``Retry-After`` in whole seconds until the later of the two windows has
room again) uses no quota and does nothing else. The server is ``http.server``'s threading server: it
listens as soon as the context is entered, so tests never wait for it to start.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memoguard.services.clock import Clock

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)

Status = Literal["new", "open", "pending", "hold", "solved"]
Priority = Literal["urgent", "high", "normal", "low"]
Tag = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CommentIn(_Strict):
    body: str = Field(min_length=1)
    public: bool = True


class TicketIn(_Strict):
    subject: str = Field(min_length=1, max_length=300)
    comment: CommentIn
    priority: Priority | None = None
    status: Status | None = None
    tags: list[Tag] = []
    external_id: str | None = Field(default=None, min_length=1)


class TicketChange(_Strict):
    comment: CommentIn | None = None
    status: Status | None = None
    priority: Priority | None = None


class CreateBody(_Strict):
    ticket: TicketIn


class UpdateBody(_Strict):
    ticket: TicketChange


class CreateManyBody(_Strict):
    tickets: list[TicketIn] = Field(min_length=1)


@dataclass(frozen=True)
class Comment:
    body: str
    public: bool
    at: datetime


@dataclass
class Ticket:
    id: int
    subject: str
    status: str
    priority: str | None
    tags: list[str]
    external_id: str | None
    comments: list[Comment]
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "description": self.comments[0].body,
            "status": self.status,
            "priority": self.priority,
            "tags": self.tags,
            "external_id": self.external_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class Request:
    at: datetime
    method: str
    path: str
    status: int


@dataclass
class Job:
    id: str
    tickets: list[TicketIn]
    polls: int = 0
    ending: Literal["completed", "failed", "killed"] = "completed"
    results: list[dict[str, Any]] | None = None


@dataclass
class _Answer:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, error: str, description: str) -> _Answer:
    return _Answer(status, {"error": error, "description": description})


class Helpdesk:
    """``with Helpdesk(clock, per_minute=…, per_day=…) as desk:`` serves on ``desk.url``.

    Tests read ``tickets`` (id → Ticket), ``jobs``, ``batch_sizes`` (accepted create_many sizes),
    ``violations`` (create_many calls over ``max_batch``), ``requests`` (every request, answered or
    refused) and ``rejected`` (how many were refused for quota). With ``email`` and ``token`` set, every
    request must carry Zendesk API-token basic auth (``{email}/token:{token}``), else 401.
    """

    def __init__(
        self,
        clock: Clock,
        per_minute: int | None = None,
        per_day: int | None = None,
        max_batch: int = 100,
        job_polls_until_done: int = 0,
        *,
        email: str | None = None,
        token: str | None = None,
    ) -> None:
        self._clock = clock
        self.per_minute = per_minute
        self.per_day = per_day
        self.max_batch = max_batch
        self.job_polls_until_done = job_polls_until_done
        self._authorization = None
        if email is not None and token is not None:
            self._authorization = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
        self.tickets: dict[int, Ticket] = {}
        self.jobs: dict[str, Job] = {}
        self.batch_sizes: list[int] = []
        self.violations: list[str] = []
        self.requests: list[Request] = []
        self.rejected = 0
        self._idempotency: dict[str, tuple[TicketIn, int]] = {}
        self._minute_start: datetime | None = None
        self._minute_count = 0
        self._day: deque[datetime] = deque()
        self._failures: deque[tuple[int, int | None]] = deque()
        self._next_job_ending: Literal["completed", "failed", "killed"] = "completed"
        self._next_ticket = 1
        self._next_job = 1
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the helpdesk is not serving: use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Helpdesk:
        desk = self

        class Handler(_Handler):
            helpdesk = desk

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="helpdesk", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the helpdesk did not stop within 10 s"

    def fail_next(self, count: int = 1, status: int = 503, retry_after: int | None = None) -> None:
        """Answer the next ``count`` requests within quota with ``status`` (and ``Retry-After``) and do
        nothing else."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def end_next_job(self, ending: Literal["failed", "killed"]) -> None:
        """The next create_many job ends ``failed`` or ``killed`` without creating any ticket."""
        with self._lock:
            self._next_job_ending = ending

    def forget_jobs(self) -> None:
        """Zendesk drops job statuses after a while: polls then get 404."""
        with self._lock:
            self.jobs.clear()

    def statuses(self) -> list[int]:
        with self._lock:
            return [request.status for request in self.requests]

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        path = target.split("?", 1)[0]
        with self._lock:
            now = self._clock.now()
            answer = self._answer(method, path, headers, body, now)
            self.requests.append(Request(now, method, path, answer.status))
            return answer

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes, now: datetime) -> _Answer:
        wait = self._quota_wait(now)
        if wait is not None:
            self.rejected += 1
            answer = _error(429, "TooManyRequests", f"quota spent, retry in {wait} s")
            answer.headers["Retry-After"] = str(wait)
            return answer
        self._use_quota(now)
        if self._failures:
            status, retry_after = self._failures.popleft()
            answer = _error(status, "Injected", f"injected failure {status}")
            if retry_after is not None:
                answer.headers["Retry-After"] = str(retry_after)
            return answer
        if self._authorization is not None and headers.get("authorization") != self._authorization:
            return _error(401, "Couldn't authenticate you", "missing or wrong API token credentials")
        return self._route(method, path, headers, body, now)

    def _quota_wait(self, now: datetime) -> int | None:
        """Seconds until a request would fit every quota; None when it fits now."""
        waits: list[timedelta] = []
        start = now.replace(second=0, microsecond=0)
        if self.per_minute is not None and start == self._minute_start and self._minute_count >= self.per_minute:
            waits.append(start + MINUTE - now)
        while self._day and self._day[0] + DAY <= now:
            self._day.popleft()
        if self.per_day is not None and len(self._day) >= self.per_day:
            # The oldest request that has to age out for the count to drop below the quota.
            waits.append(self._day[len(self._day) - self.per_day] + DAY - now)
        if not waits:
            return None
        return max(1, math.ceil(max(waits).total_seconds()))

    def _use_quota(self, now: datetime) -> None:
        start = now.replace(second=0, microsecond=0)
        if start != self._minute_start:
            self._minute_start, self._minute_count = start, 0
        self._minute_count += 1
        self._day.append(now)

    def _route(self, method: str, path: str, headers: dict[str, str], body: bytes, now: datetime) -> _Answer:
        if path == "/api/v2/tickets.json":
            if method != "POST":
                return _error(405, "MethodNotAllowed", f"{method} {path}")
            return self._create(headers, body, now)
        if path == "/api/v2/tickets/create_many.json":
            if method != "POST":
                return _error(405, "MethodNotAllowed", f"{method} {path}")
            return self._create_many(headers, body)
        if match := re.fullmatch(r"/api/v2/tickets/(\d+)\.json", path):
            ticket = self.tickets.get(int(match[1]))
            if method == "GET":
                return _Answer(200, {"ticket": ticket.as_json()}) if ticket else _error(404, "RecordNotFound", path)
            if method == "PUT":
                return self._update(ticket, headers, body, now) if ticket else _error(404, "RecordNotFound", path)
            return _error(405, "MethodNotAllowed", f"{method} {path}")
        if match := re.fullmatch(r"/api/v2/job_statuses/([0-9a-f]+)\.json", path):
            if method != "GET":
                return _error(405, "MethodNotAllowed", f"{method} {path}")
            return self._job_status(match[1], now)
        return _error(404, "InvalidEndpoint", f"no such endpoint: {method} {path}")

    def _create(self, headers: dict[str, str], body: bytes, now: datetime) -> _Answer:
        parsed = _parse(CreateBody, headers, body)
        if isinstance(parsed, _Answer):
            return parsed
        key = headers.get("idempotency-key")
        if key is not None and key in self._idempotency:
            earlier, ticket_id = self._idempotency[key]
            if earlier != parsed.ticket:
                return _error(400, "IdempotentRequestError", "this Idempotency-Key was used with another body")
            answer = _Answer(201, {"ticket": self.tickets[ticket_id].as_json()})
            answer.headers["x-idempotency-lookup"] = "hit"
            return answer
        ticket = self._new_ticket(parsed.ticket, now)
        if key is not None:
            self._idempotency[key] = (parsed.ticket, ticket.id)
        return _Answer(201, {"ticket": ticket.as_json()})

    def _update(self, ticket: Ticket, headers: dict[str, str], body: bytes, now: datetime) -> _Answer:
        parsed = _parse(UpdateBody, headers, body)
        if isinstance(parsed, _Answer):
            return parsed
        change = parsed.ticket
        if change.comment is not None:
            ticket.comments.append(Comment(change.comment.body, change.comment.public, now))
        if change.status is not None:
            ticket.status = change.status
        if change.priority is not None:
            ticket.priority = change.priority
        ticket.updated_at = now
        return _Answer(200, {"ticket": ticket.as_json()})

    def _create_many(self, headers: dict[str, str], body: bytes) -> _Answer:
        parsed = _parse(CreateManyBody, headers, body)
        if isinstance(parsed, _Answer):
            return parsed
        count = len(parsed.tickets)
        if count > self.max_batch:
            self.violations.append(f"create_many with {count} tickets (max {self.max_batch})")
            return _error(400, "TooManyTickets", f"{count} tickets: at most {self.max_batch} per call")
        self.batch_sizes.append(count)
        job = Job(f"{self._next_job:032x}", parsed.tickets, ending=self._next_job_ending)
        self._next_job += 1
        self._next_job_ending = "completed"
        self.jobs[job.id] = job
        return _Answer(200, {"job_status": self._job_json(job, "queued")})

    def _job_status(self, job_id: str, now: datetime) -> _Answer:
        job = self.jobs.get(job_id)
        if job is None:
            return _error(404, "RecordNotFound", f"no job {job_id}")
        job.polls += 1
        if job.polls <= self.job_polls_until_done:
            return _Answer(200, {"job_status": self._job_json(job, "queued")})
        if job.results is None and job.ending == "completed":
            job.results = [self._job_result(index, ticket, now) for index, ticket in enumerate(job.tickets)]
        return _Answer(200, {"job_status": self._job_json(job, job.ending)})

    def _job_result(self, index: int, ticket: TicketIn, now: datetime) -> dict[str, Any]:
        # The way to make one ticket of a batch fail, as Zendesk does for a ticket it refuses.
        if "REJECT" in ticket.subject:
            return {"index": index, "error": "TicketCreateFailed", "details": "Subject: refused", "success": False}
        created = self._new_ticket(ticket, now)
        return {"index": index, "id": created.id, "action": "create", "status": "Created", "success": True}

    def _job_json(self, job: Job, status: str) -> dict[str, Any]:
        done = status == "completed"
        return {
            "id": job.id,
            "url": f"{self.url}/api/v2/job_statuses/{job.id}.json",
            "status": status,
            "total": len(job.tickets),
            "progress": len(job.tickets) if done else None,
            "message": f"job {status}" if status in {"failed", "killed"} else None,
            "results": job.results if done else None,
        }

    def _new_ticket(self, ticket: TicketIn, now: datetime) -> Ticket:
        created = Ticket(
            id=self._next_ticket,
            subject=ticket.subject,
            status=ticket.status or "new",
            priority=ticket.priority,
            tags=list(ticket.tags),
            external_id=ticket.external_id,
            comments=[Comment(ticket.comment.body, ticket.comment.public, now)],
            created_at=now,
            updated_at=now,
        )
        self._next_ticket += 1
        self.tickets[created.id] = created
        return created


def _parse(model: type[M], headers: dict[str, str], body: bytes) -> M | _Answer:
    content_type = headers.get("content-type", "").split(";", 1)[0].strip()
    if content_type != "application/json":
        return _error(400, "InvalidContentType", f"Content-Type must be application/json, not {content_type!r}")
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        return _error(400, "InvalidRequest", problems)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the provider's pooled client expects
    # Headers and body are written separately: with Nagle's algorithm every answer waits ~40 ms for the
    # client's delayed ACK.
    disable_nagle_algorithm = True
    helpdesk: Helpdesk

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            answer = _error(411, "LengthRequired", "send a Content-Length")
            self.close_connection = True
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = self.helpdesk.serve(self.command, self.path, headers, body)
        payload = b"" if answer.body is None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests log is in ``Helpdesk.requests``."""
