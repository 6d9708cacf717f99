"""The one shape of every 4xx body, and the OpenAPI entries that document it.

Every refusal, whoever raises it (a handler, FastAPI's request validation, Starlette's routing, the body
limit), answers ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}, ...]}``: FastAPI's validation
error shape, so a client written against FastAPI's defaults reads ours, and a 404 reads like a 422. ``loc``
says where the problem is (``["body", "labels", "host"]``, ``["path", "incident_id"]``, ``["header",
"authorization"]``; empty when the request as a whole is wrong), ``msg`` says what is wrong in words a
person acts on, ``type`` is a stable code for scripts (pydantic's for validation errors, ours otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from memoguard.http.payload import NO_NUL
from memoguard.services.store import StoreUnavailable

# The statuses each kind of refusal answers, for the ``responses`` of the routes (and the README).
DESCRIPTIONS = {
    400: "Empty body, or a body that is not text",
    401: "Missing or invalid bearer token (nothing stored)",
    403: "The token's source, or the acting person, may not do this: unknown, not paged (nothing stored)",
    404: "No such incident, roster or level",
    409: "The incident is resolved",
    413: "Request body larger than the limit (1 MiB by default; nothing stored)",
    422: "Invalid request: malformed JSON, a missing, unknown or invalid field (nothing stored)",
    429: "Too many failed authentications from this address: wait Retry-After seconds",
    503: "The service is stopping (nothing stored): send again after Retry-After seconds, here or to another instance",
}

# A ``type`` per status for refusals that are not pydantic validation errors.
TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "too_many_failures",
    503: "stopping",
}


class Issue(BaseModel):
    model_config = ConfigDict(title="Issue")

    loc: list[str | int] = Field(description="Where: body, path, query or header, then the field's path.")
    msg: str = Field(description="What is wrong, in words.")
    type: str = Field(description="A stable code: pydantic's error type, or not_found, conflict, …")


class ErrorBody(BaseModel):
    model_config = ConfigDict(title="Error")

    detail: list[Issue] = Field(min_length=1)


def issue(msg: str, loc: Sequence[str | int] = (), kind: str = "invalid") -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def refuse(
    status: int,
    msg: str,
    loc: Sequence[str | int] = (),
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTTPException:
    """An exception answering ``status`` with one issue; ``raise refuse(404, "no incident '7'", ["path", …])``."""
    detail = [issue(msg, loc, kind or TYPES.get(status, "error"))]
    return HTTPException(status, detail, headers=dict(headers) if headers is not None else None)


def body(detail: Any, status: int) -> dict[str, Any]:
    """``detail`` (a list of issues, or one message) in the documented shape."""
    if isinstance(detail, list) and detail and all(isinstance(item, dict) for item in detail):
        return {"detail": detail}
    return {"detail": [issue(str(detail), (), TYPES.get(status, "error"))]}


def validation_issues(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors reduced to the documented keys (its ``input`` would echo the request, ``ctx`` and
    ``url`` add nothing a person reads), a string with a NUL character said in words."""
    issues = []
    for item in errors:
        kind = str(item.get("type", "invalid"))
        msg = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if kind == "string_pattern_mismatch" and (item.get("ctx") or {}).get("pattern") == NO_NUL:
            kind, msg = "nul_character", "contains a NUL character (\\u0000), which cannot be stored"
        loc = [part if isinstance(part, int) else str(part) for part in item.get("loc", ())]
        issues.append({"loc": loc, "msg": msg, "type": kind})
    return issues


async def on_http_exception(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    return JSONResponse(body(error.detail, error.status_code), status_code=error.status_code, headers=error.headers)


async def on_validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": validation_issues(error.errors())}, status_code=422)


# Seconds a client is told to wait when the database cannot be reached (it is usually back within them).
RETRY_AFTER_OUTAGE = 5


async def on_store_unavailable(_: Request, error: Exception) -> JSONResponse:
    """The database out of reach: nothing was stored, and a retry will do (not a 500, which reads as a
    bug in the request or the service). Alarm sources retry a 503; Retry-After says when."""
    assert isinstance(error, StoreUnavailable)
    detail = [issue(f"{error}; nothing was stored, retry", (), "unavailable")]
    headers = {"Retry-After": str(RETRY_AFTER_OUTAGE)}
    return JSONResponse({"detail": detail}, status_code=503, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries for these refusals, all of them :class:`ErrorBody`."""
    return {status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses}
