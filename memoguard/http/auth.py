"""Bearer tokens: each alarm source has its own (``token_file``/``token_env`` in memoguard.yaml), and
each person their personal tokens (``memoguard token create``), which the other routes require.

The token sent is compared with surrounding whitespace stripped, then exactly and in constant time (case
and inner whitespace count), like the configured tokens, which is how the loader tells that two sources
share one (config/tokens.py)."""

from __future__ import annotations

import hmac
import math
import threading
from collections import deque
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from memoguard.http.problem import refuse
from memoguard.http.state import wiring
from memoguard.services.access import Credential
from memoguard.services.clock import Clock
from memoguard.services.record import AuditEntry
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


# --- people: personal API tokens (services/access.py) on the incidents and on-call routes -------------

# The OpenAPI security scheme of the routes a person uses (declared through the ``Security`` below).
PERSON_TOKEN = "personToken"
_PERSON_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name=PERSON_TOKEN,
    description="A person's API token (`memoguard token create --as NAME`); the person acts as themself",
)

# A browser signed in (http/signin.py) sends its session cookie instead, and with every state-changing
# request the session's CSRF token in this header (the console reads it from GET /api/v1/session).
PERSON_SESSION = "personSession"
SESSION_COOKIE = "mg_session"
CSRF_HEADER = "X-CSRF-Token"
_SESSION_SCHEME = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name=PERSON_SESSION,
    description="A web session's cookie (sign in at /signin); every request that changes state also sends"
    f" the session's CSRF token in the `{CSRF_HEADER}` header (GET /api/v1/session gives it)",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

MAX_FAILURES = 10  # failed authentications per address and window, after which the address waits
WINDOW = timedelta(minutes=1)
MAX_ADDRESSES = 10_000  # addresses remembered; beyond, the stalest are forgotten (memory stays bounded)


class Throttle:
    """Failed authentications per client address, in memory: per instance (two instances behind a load
    balancer each allow ``MAX_FAILURES`` a window), forgotten at a restart. Enough to make guessing a
    256-bit token hopeless rather than merely improbable, and to keep failures from filling the audit."""

    def __init__(self, clock: Clock, limit: int = MAX_FAILURES, window: timedelta = WINDOW) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def wait(self, address: str) -> int:
        """Seconds ``address`` must still wait before trying again; 0 when it may try now."""
        now = self._clock.now()
        with self._lock:
            failures = self._failures.get(address)
            if failures is None:
                return 0
            while failures and failures[0] <= now - self._window:
                failures.popleft()
            if not failures:
                del self._failures[address]
                return 0
            if len(failures) < self._limit:
                return 0
            return max(1, math.ceil((failures[0] + self._window - now).total_seconds()))

    def fail(self, address: str) -> None:
        now = self._clock.now()
        with self._lock:
            if address not in self._failures and len(self._failures) >= MAX_ADDRESSES:
                stalest = min(self._failures, key=lambda a: self._failures[a][-1] if self._failures[a] else now)
                del self._failures[stalest]
            self._failures.setdefault(address, deque(maxlen=self._limit)).append(now)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def person_credential(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_PERSON_SCHEME)],
    __: Annotated[str | None, Security(_SESSION_SCHEME)],
) -> Credential:
    """The person a request acts as, from its personal token or else its web session's cookie; 401
    without either, 429 after too many failures from the address. Unknown, wrong, revoked and expired
    tokens (and source tokens) are refused alike: same status, same body. With the cookie, a request
    that changes state needs the session's CSRF token in ``X-CSRF-Token`` (403 otherwise)."""
    found = wiring(request)
    address = client_address(request)
    # A throttled address is still let through with a credential that works: behind a proxy that does
    # not pass the client's address on, every client shares one, and a stranger's ten bad guesses must
    # not lock the people on call out. Its failures are answered 429 and neither counted nor audited
    # (they would only fill the audit); guessing a 256-bit token stays hopeless either way.
    wait = found.throttle.wait(address)
    token = bearer(request)
    # The cookie counts only without an Authorization header: one that is there but unusable is refused
    # rather than passed over for whatever session the browser also holds.
    if "authorization" not in request.headers and request.cookies.get(SESSION_COOKIE):
        return _session_credential(request, request.cookies[SESSION_COOKIE], address, wait)
    if token is None:
        if wait:
            raise _throttled(address, wait)
        raise refuse(
            401,
            "missing bearer token: send 'Authorization: Bearer <personal token>' (memoguard token create)"
            " or sign in at /signin",
            ["header", "authorization"],
            headers={"WWW-Authenticate": "Bearer"},
        )
    credential = found.application.access.authenticate(token, address, record=not wait)
    if credential is None:
        if wait:
            raise _throttled(address, wait)
        found.throttle.fail(address)
        raise refuse(
            401,
            "invalid token: unknown, revoked or expired personal token",
            ["header", "authorization"],
            "invalid_token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return credential


def _throttled(address: str, wait: int) -> HTTPException:
    return refuse(
        429,
        f"too many failed authentications from {address}: try again in {wait}s",
        ["header", "authorization"],
        headers={"Retry-After": str(wait)},
    )


def form_credential(request: Request, csrf: str) -> Credential:
    """The person of a console form POST (http/console.py): the session cookie, with the CSRF token from
    the form's hidden field instead of the header; refused exactly as the API refuses (401, 403, 429)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    address = client_address(request)
    wait = wiring(request).throttle.wait(address)
    if not cookie:
        if wait:
            raise _throttled(address, wait)
        raise refuse(401, "not signed in: sign in at /signin", ["cookie", SESSION_COOKIE])
    return _session_credential(request, cookie, address, wait, csrf)


def _session_credential(
    request: Request, cookie: str, address: str, wait: int, form_csrf: str | None = None
) -> Credential:
    found = wiring(request)
    sessions = found.application.sessions
    session = sessions.find(cookie)
    if session is None and wait:
        raise _throttled(address, wait)
    if session is None:
        why = "unknown, signed out or expired web session"
        found.application.access.record(
            AuditEntry(found.application.clock.now(), None, "auth-failed", "web session", address, None, why)
        )
        found.throttle.fail(address)
        raise refuse(
            401,
            "invalid session: signed out, expired or unknown; sign in again at /signin",
            ["cookie", SESSION_COOKIE],
            "invalid_token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "") if form_csrf is None else form_csrf
        if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            what = "missing" if not sent else "wrong"
            msg = f"{what} CSRF token: a request with a session cookie that changes state sends the session's"
            raise refuse(403, f"{msg} token in {CSRF_HEADER} (GET /api/v1/session gives it)", ["header", CSRF_HEADER])
    return Credential(session.person, sessions.admin(session), 0, "web session", session.id, session.csrf)


Who = Annotated[Credential, Depends(person_credential)]
