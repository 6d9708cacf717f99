"""The acknowledgement links of e-mail pages (issue 16): ``GET /email/{token}`` shows, ``POST`` acts.

These routes answer HTML pages for a person on a phone, not the JSON problems of the API routes
(http/problem.py): a refused link is a page saying why, in the person's language when the token could
be read, with the status that fits (403 not valid, 410 expired, 409 no longer applies, 404 unknown or
links not configured). The GET never acts, whatever opens it (mail scanners open every link); the
page's one button POSTs to the same address. Rendering is Jinja2 with autoescape, StrictUndefined.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from memoguard.http.auth import client_address
from memoguard.http.pages import templates
from memoguard.http.problem import DESCRIPTIONS
from memoguard.http.state import application
from memoguard.services.link import LinkError, LinkPage, Problem

router = APIRouter(prefix="/email", tags=["e-mail links"])

STATUS = {
    Problem.MALFORMED: 403,
    Problem.EXPIRED: 410,
    Problem.UNKNOWN: 404,
    Problem.NOT_APPLICABLE: 409,
}

_env = templates

_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not a valid link (changed or cut): an HTML page saying so", **_HTML},
    404: {"description": "The incident or person is gone, or links are not configured: an HTML page", **_HTML},
    409: {"description": "The link no longer applies (resolved, stage over): an HTML page", **_HTML},
    410: {"description": "The link has expired: an HTML page", **_HTML},
    # FastAPI documents one for any path parameter; a string token never fails validation, and if it
    # did the answer would be the API's problem JSON (on_validation_error), so that is what is declared.
    # (Written out: ``model=`` would take this route's text/html; ErrorBody is declared by the API routes.)
    422: {
        "description": DESCRIPTIONS[422],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    },
}


def _render(status: int, language: str, **context: Any) -> HTMLResponse:
    template = _env.get_template(f"link.{language if language in ('fr', 'en') else 'en'}.html")
    values = {"page": None, "problem": None, "reason": "", "done": False, "changed": False, **context}
    # The state shown is of this instant and the address is a credential: no cache keeps either.
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(template.render(**values), status_code=status, headers=headers)


def _refused(error: LinkError, language: str = "en") -> HTMLResponse:
    return _render(STATUS[error.problem], language, problem=error.problem.value, reason=error.reason)


def _language(page: LinkPage) -> str:
    return page.person.language


@router.get(
    "/{token}",
    summary="The page of an e-mail link: the incident and one button (changes nothing)",
    response_class=HTMLResponse,
    responses={200: {"description": "The incident and the button that acts", **_HTML}, **RESPONSES},
)
def show(token: str, request: Request) -> HTMLResponse:
    links = application(request).links
    if links is None:
        return _refused(LinkError(Problem.UNKNOWN, "e-mail links are not configured here"))
    try:
        page = links.show(token)
    except LinkError as error:
        return _refused(error)
    if not page.applicable:
        return _render(409, _language(page), page=page, reason=page.reason)
    return _render(200, _language(page), page=page)


@router.post(
    "/{token}",
    summary="Act as the link says (acknowledge, confirm, resolve or escalate), as the person it names",
    response_class=HTMLResponse,
    responses={200: {"description": "Done: an HTML page with the incident's new state", **_HTML}, **RESPONSES},
)
def act(token: str, request: Request) -> HTMLResponse:
    links = application(request).links
    if links is None:
        return _refused(LinkError(Problem.UNKNOWN, "e-mail links are not configured here"))
    try:
        language = links.show(token).person.language
    except LinkError as error:
        return _refused(error)
    try:
        page, changed = links.act(token, client_address(request))
    except LinkError as error:
        try:
            current = links.show(token)
        except LinkError:
            return _refused(error, language)
        return _render(STATUS[error.problem], language, page=current, problem=error.problem.value, reason=error.reason)
    return _render(200, language, page=page, done=True, changed=changed)
