"""Bearer tokens: each alarm source has its own (``token_file``/``token_env`` in memoguard.yaml).

The token sent is compared with surrounding whitespace stripped, then exactly and in constant time (case
and inner whitespace count), like the configured tokens, which is how the loader tells that two sources
share one (config/tokens.py)."""

from __future__ import annotations

from fastapi import Request

from memoguard.http.problem import refuse
from memoguard.services.secret import SourceTokens


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(request: Request, tokens: SourceTokens) -> str:
    """The source the request's token belongs to; 401 (nothing stored) otherwise."""
    token = bearer(request)
    if token is None:
        raise refuse(
            401,
            "missing bearer token: send 'Authorization: Bearer <source token>'",
            ["header", "authorization"],
            headers={"WWW-Authenticate": "Bearer"},
        )
    source = tokens.source_for(token)
    if source is None:
        raise refuse(
            401,
            "invalid token: it belongs to no configured source",
            ["header", "authorization"],
            "invalid_token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return source
