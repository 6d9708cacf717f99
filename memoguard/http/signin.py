"""Web sign-in pages (issue 23): ``GET /signin``, ``POST /signin`` (send me a code), ``POST
/signin/code`` (here is the code), ``POST /signout``; and ``GET /api/v1/session``, which tells the
console who is signed in and the CSRF token its state-changing calls must send.

Small server-rendered HTML (Jinja2, autoescaped), in the person's language once known, else the
browser's (Accept-Language), usable on a phone and without JavaScript. The HTML routes are left out
of the OpenAPI document (they are not an API; tests/integration/test_access.py checks them itself).

CSRF: every form POST carries a token in a hidden field. Before sign-in it is a double-submit token
(the ``mg_form`` cookie, HttpOnly and SameSite, must equal the field: another site can make a browser
post but can neither read nor set that cookie); once signed in it is the session's own CSRF token
(services/session.py). Missing or wrong: 403 and nothing changes. Cookies are HttpOnly, SameSite=Lax,
and Secure when ``http.public_url`` is https.

A trusted reverse proxy (``http.auth.proxy_header`` from ``http.auth.proxy_addresses``) signs a person
in when they open ``GET /signin``; the header from any other address is ignored and audited.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from memoguard.http.answer import ok
from memoguard.http.auth import SESSION_COOKIE, Who, client_address
from memoguard.http.pages import templates
from memoguard.http.problem import responses
from memoguard.http.state import wiring
from memoguard.services.record import WebSession
from memoguard.services.session import PROXY, Opened

router = APIRouter(tags=["sign-in"])

FORM_COOKIE = "mg_form"  # the double-submit CSRF token of the forms before sign-in
PENDING_COOKIE = "mg_signin"  # the browser's half of a code request (services/signin.py)
SIGNIN_REQUESTS = 10  # codes asked for per client address and window, whoever for
SIGNIN_WINDOW = timedelta(minutes=15)
MAX_FORM = 4096  # a sign-in form is a name and a token: anything longer is not one

_env = templates
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def language(request: Request) -> str:
    """French or English, by the browser's Accept-Language (the first of the two it prefers)."""
    best, choice = -1.0, "en"
    for item in request.headers.get("accept-language", "").split(","):
        tag, _, params = item.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        if base not in ("fr", "en"):
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > best:
            best, choice = quality, base
    return choice


def _secure(request: Request) -> bool:
    public = wiring(request).application.config.http.public_url
    return public is not None and public.startswith("https://")


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int, path: str) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="lax", secure=_secure(request))


def _page(request: Request, status: int, lang: str, **context: Any) -> HTMLResponse:
    settings = wiring(request).application.signin.settings
    values = {
        "state": "ask",
        "error": None,
        "csrf": "",
        "person": "",
        "via_proxy": False,
        "minutes": max(1, int(settings.ttl.total_seconds() // 60)),
        **context,
    }
    html = _env.get_template(f"signin.{lang}.html").render(**values)
    return HTMLResponse(html, status_code=status, headers=dict(_HEADERS))


def _ask(request: Request, status: int = 200, error: str | None = None, state: str = "ask") -> HTMLResponse:
    """A page with a pre-sign-in form, and the double-submit cookie its token must match."""
    token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    response = _page(request, status, language(request), state=state, error=error, csrf=token)
    _cookie(request, response, FORM_COOKIE, token, 3600, "/signin")
    return response


def _signed_in(request: Request, session: WebSession, status: int = 200) -> HTMLResponse:
    lang = wiring(request).application.config.people[session.person].language
    lang = lang if lang in ("fr", "en") else "en"
    return _page(
        request,
        status,
        lang,
        state="signed_in",
        person=session.person,
        csrf=session.csrf,
        via_proxy=session.how == PROXY,
    )


def _begin(request: Request, response: Response, opened: Opened) -> None:
    max_age = int(wiring(request).application.sessions.absolute.total_seconds())
    _cookie(request, response, SESSION_COOKIE, opened.secret, max_age, "/")
    response.delete_cookie(PENDING_COOKIE, path="/signin")


def _session(request: Request) -> WebSession | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return wiring(request).application.sessions.find(cookie) if cookie else None


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


@router.get("/signin", include_in_schema=False)
def show(request: Request) -> Response:
    found = wiring(request)
    signin = found.application.signin
    session = _session(request)
    header = found.application.config.http.auth.proxy_header
    value = request.headers.get(header, "").strip() if header else ""
    if header and value:
        address = client_address(request)
        named = signin.person(value) if signin.trusted(address) else None
        # From elsewhere the header is refused (audited) and changes nothing; from a listed proxy it
        # names who is signed in, whatever session the browser held before.
        if session is None or named is None or named.name != session.person:
            if session is not None and named is not None:  # another person now: the old session ends
                found.application.sessions.close(session, address)
                session = None
            opened = signin.proxy(header, value, address)
            if opened is not None:
                response = _signed_in(request, opened.session)
                _begin(request, response, opened)
                return response
    if session is not None:
        return _signed_in(request, session)
    return _ask(request)


@router.post("/signin", include_in_schema=False)
async def ask(request: Request) -> Response:
    found = wiring(request)
    form = await _form(request)
    if not _same(form.get("csrf"), request.cookies.get(FORM_COOKIE)):
        return _ask(request, 403, "csrf")
    address = client_address(request)
    if found.requests.wait(address):
        return _ask(request, 429, "throttled")
    who = form.get("who", "").strip()
    if not who:
        return _ask(request, 422, "empty")
    found.requests.fail(address)  # every code asked counts against the address
    secret = found.application.signin.request(who, address)
    response = _ask(request, 200, state="code")
    _cookie(
        request, response, PENDING_COOKIE, secret, int(found.application.signin.settings.ttl.total_seconds()), "/signin"
    )
    return response


@router.post("/signin/code", include_in_schema=False)
async def code(request: Request) -> Response:
    found = wiring(request)
    form = await _form(request)
    if not _same(form.get("csrf"), request.cookies.get(FORM_COOKIE)):
        return _ask(request, 403, "csrf", state="code")
    address = client_address(request)
    if found.throttle.wait(address):
        return _ask(request, 429, "throttled", state="code")
    if not form.get("code", "").strip():
        return _ask(request, 422, "empty_code", state="code")
    opened = found.application.signin.verify(request.cookies.get(PENDING_COOKIE), form["code"], address)
    if opened is None:
        found.throttle.fail(address)
        return _ask(request, 401, "code", state="code")
    response = RedirectResponse("/signin", status_code=303, headers=dict(_HEADERS))
    _begin(request, response, opened)
    return response


@router.post("/signout", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    form = await _form(request)
    session = _session(request)
    if session is not None:
        if not _same(form.get("csrf"), session.csrf):
            return _page(
                request,
                403,
                language(request),
                state="signed_in",
                error="csrf",
                person=session.person,
                csrf=session.csrf,
            )
        wiring(request).application.sessions.close(session, client_address(request))
    response = _page(request, 200, language(request), state="signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


class SessionInfo(BaseModel):
    person: str = Field(description="Who the request acts as")
    role: str = Field(description="`responder` or `admin`")
    credential: str = Field(description="`web session`, or `token NAME` for a personal API token")
    csrf_token: str | None = Field(
        description="With a web session: the value of `X-CSRF-Token` on every request that changes state"
    )


@router.get(
    "/api/v1/session",
    summary="Who the request acts as, and the web session's CSRF token",
    response_model=None,
    responses={**ok(SessionInfo, "The credential's person"), **responses(401, 429)},
)
def who_am_i(who: Who) -> dict[str, Any]:
    return {
        "person": who.person,
        "role": "admin" if who.admin else "responder",
        "credential": who.how,
        "csrf_token": who.csrf,
    }
