"""The web console's pages (issue 18): ``/console`` (the incidents, filtered), ``/console/incidents/N``
(one incident: its timeline across channels and its alarms), and the actions, each behind a
confirmation page: ``GET /console/incidents/N/ack`` asks, the form it shows POSTs.

Server-rendered (Jinja2, autoescaped) in the signed-in person's language, plain HTML forms that work
without JavaScript; one small script of the package (``/console/static/console.js``, nothing from a CDN:
on-call servers often have no internet) keeps the list live through server-sent events
(http/console_events.py) and the countdowns ticking. A page without a web session sends the browser to
/signin. An action goes through the API's own authorisation (http/auth.py ``form_credential``: the
session, its CSRF token from the form's hidden field) and the API's own action (http/incident.py
``perform``): the console has no way around "People and access".
"""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from memoguard.domain.incident import IncidentState
from memoguard.http import console_view
from memoguard.http.auth import SESSION_COOKIE, client_address, form_credential
from memoguard.http.console_text import countdown, texts
from memoguard.http.incident import perform
from memoguard.http.pages import templates
from memoguard.http.state import wiring
from memoguard.services.action import Verb
from memoguard.services.application import Application
from memoguard.services.feed import Feed
from memoguard.services.record import WebSession

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_FORM = 4096  # a console form is a CSRF token
STATIC = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
FRAGMENT = "X-Console-Fragment"  # the script asks for the live part of a page only

_env = templates
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _session(request: Request) -> WebSession | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return wiring(request).application.sessions.find(cookie) if cookie else None


def _language(app: Application, person: str) -> str:
    found = app.config.people.get(person)
    return found.language if found is not None and found.language in ("fr", "en") else "en"


def _render(request: Request, session: WebSession, template: str, status: int = 200, **context: Any) -> Response:
    app = wiring(request).application
    lang = _language(app, session.person)
    now = app.clock.now()

    def left(due: datetime) -> str:
        return countdown(due - now, lang)

    fragment = request.headers.get(FRAGMENT) == "1"
    html = _env.get_template(f"console/{template}").render(
        t=texts(lang),
        lang=lang,
        person=session.person,
        csrf=session.csrf,
        left=left,
        fragment=fragment,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=dict(HEADERS))


def _to_signin() -> Response:
    return RedirectResponse("/signin", status_code=303, headers=dict(HEADERS))


def _verb(value: str) -> Verb | None:
    return Verb(value) if value in {v.value for v in Verb} else None


@router.get("")
def incidents(
    request: Request, state: str = "open", severity: str = "", source: str = "", policy: str = ""
) -> Response:
    session = _session(request)
    if session is None:
        return _to_signin()
    app = wiring(request).application
    filters = console_view.Filters(state, severity.strip(), source.strip(), policy.strip())
    known = {"open", "all"} | {s.value for s in IncidentState}
    error = "" if state in known else state[:100]
    rows = console_view.incidents(app, filters) if not error else []
    choices = {
        "states": [s.value for s in IncidentState],
        "sources": sorted(app.config.sources),
        "policies": sorted(app.config.policies),
        "severities": sorted({row.severity for row in rows} | ({filters.severity} - {""})),
    }
    cursor = Feed(app.store, app.clock).head()
    status = 422 if error else 200
    context = {"rows": rows, "filters": filters, "choices": choices, "cursor": cursor, "error": error}
    return _render(request, session, "list.html", status, **context)


@router.get("/incidents/{incident_id}")
def one(request: Request, incident_id: str, done: str = "") -> Response:
    return _incident(request, incident_id, done=done)


def _incident(
    request: Request, incident_id: str, status: int = 200, done: str = "", error: str = "", asking: Verb | None = None
) -> Response:
    session = _session(request)
    if session is None:
        return _to_signin()
    app = wiring(request).application
    detail = console_view.incident(app, incident_id)
    if detail is None:
        return _render(request, session, "missing.html", 404, incident_id=incident_id, cursor=0)
    cursor = Feed(app.store, app.clock).head()
    return _render(
        request,
        session,
        "incident.html",
        status,
        detail=detail,
        cursor=cursor,
        done=done if done in ("changed", "unchanged") else "",
        error=error,
        asking=asking.value if asking is not None else "",
        verbs=[v.value for v in Verb],
    )


@router.get("/incidents/{incident_id}/{verb}")
def ask(request: Request, incident_id: str, verb: str) -> Response:
    """The confirmation step: the incident page with the question and the form that POSTs the action."""
    chosen = _verb(verb)
    if chosen is None:
        return _incident(request, incident_id, 404)
    return _incident(request, incident_id, asking=chosen)


@router.post("/incidents/{incident_id}/{verb}")
async def act(request: Request, incident_id: str, verb: str) -> Response:
    body = await request.body()
    fields = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True) if len(body) <= MAX_FORM else []
    form = dict(fields)
    app = wiring(request).application
    chosen = _verb(verb)
    try:
        who = form_credential(request, form.get("csrf", ""))
        if chosen is None:
            return _incident(request, incident_id, 404)
        outcome = perform(app, who, incident_id, chosen, client_address(request), channel="web console")
    except HTTPException as refused:
        if refused.status_code == 401:
            return _to_signin()
        return _incident(request, incident_id, refused.status_code, error=_message(refused.detail))
    done = "changed" if outcome.changed else "unchanged"
    return RedirectResponse(f"/console/incidents/{incident_id}?done={done}", status_code=303, headers=dict(HEADERS))


def _message(detail: Any) -> str:
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return str(detail[0].get("msg", ""))
    return str(detail)


@router.get("/static/{name}")
def static(name: str) -> Response:
    kind = STATIC.get(name)
    if kind is None:
        return Response(status_code=404)
    text = files("memoguard").joinpath("templates", "console", name).read_text(encoding="utf-8")
    headers = {"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(text, media_type=kind, headers=headers)
