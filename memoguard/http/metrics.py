"""GET /metrics: the Prometheus exposition, behind a token of its own (``metrics.token_file``/``token_env``).

Its own token, not a person's or a source's: a scraper reads figures and must not be able to act on an
incident or post an alarm, and a person's token in a Prometheus configuration would outlive that person's
access. Without ``metrics.token_*`` the route answers 404 (``metrics.listen`` may then serve the same
figures on an address of its own: serve starts it). Not in the OpenAPI document: its answer is
Prometheus's text format, not the API's JSON, and scrapers are configured, not generated.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from memoguard.http.auth import bearer, client_address
from memoguard.http.problem import refuse
from memoguard.http.state import wiring

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    found = wiring(request)
    expected = found.application.metrics_token
    if expected is None:
        raise refuse(404, "/metrics is not served on this port: set metrics.token_file or metrics.token_env", ["path"])
    address = client_address(request)
    wait = found.throttle.wait(address)
    if wait:
        raise refuse(
            429,
            f"too many failed authentications from {address}: try again in {wait}s",
            ["header", "authorization"],
            headers={"Retry-After": str(wait)},
        )
    token = bearer(request)
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        found.throttle.fail(address)
        raise refuse(
            401,
            "missing or invalid bearer token: send 'Authorization: Bearer <metrics token>'",
            ["header", "authorization"],
            "invalid_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    body, content_type = found.application.metrics.exposition()
    return Response(body, media_type=content_type)
