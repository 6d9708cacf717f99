"""Twilio's webhooks, for each twilio provider: a message's delivery status, a text a phone sent, and a
call's requests (its TwiML when answered, a key pressed, its status).

The routes pass the request as it came — path and query as asked for, the form fields in order, the
X-Twilio-Signature header — to the provider's hook (services/hook.py; bootstrap wires the twilio
adapter's), which checks the signature before anything else: missing or wrong, the answer is 403 in
the usual refusal shape (http/problem.py) and nothing changes. A signed request is answered with the
TwiML the hook returned (what a call says next), or an empty ``<Response/>`` once the inbox has taken
it: replies are answered by a queued SMS, never inline. The form is parsed here from the raw body,
without a form library, so that every field reaches the signature check exactly as sent. Every route
has that one shape (``_route``); they differ only in what they document. ``dial`` is the provider
number's voice webhook: the crisis bridge number, when a member dials it rather than pressing 0.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from memoguard.http.problem import refuse, responses
from memoguard.http.state import application
from memoguard.services.hook import Callback, Forged, Malformed

router = APIRouter(prefix="/twilio", tags=["twilio"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
SIGNATURE = "X-Twilio-Signature"

_FIELD = {"type": "string"}


def _form(required: list[str], fields: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": dict.fromkeys(fields, _FIELD), "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Taken: an empty TwiML document",
        "content": {"text/xml": {"schema": {"type": "string"}}},
    },
    **responses(403, 404, 413, 422),
}
_TWIML: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "What the call says next: a TwiML document",
        "content": {"text/xml": {"schema": {"type": "string"}}},
    },
    **responses(403, 404, 413, 422),
}
_SIGNED = Header(alias=SIGNATURE, description="Twilio's signature of the public URL and the form, with the auth token.")
_SIGNED_QUERY: dict[str, Any] = {
    "parameters": [
        {"name": "n", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "m", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "a", "in": "query", "required": False, "schema": {"type": "string"}},
    ]
}
_CALL = ["AccountSid", "CallSid", "CallStatus", "AnsweredBy", "From", "To", "Direction"]


def _route(kind: str, summary: str, required: list[str], fields: list[str], *, twiml: bool, signed: bool) -> None:
    """One webhook route, ``POST /twilio/{provider}/{kind}``: each has the same shape (the hook checks the
    signature, parses, dispatches: ``_handle``); only its documentation differs. ``twiml``: it answers
    what a call says next; ``signed``: its URL carries the page memoguard signed (``n``, ``m``, ``a``)."""

    async def endpoint(provider: str, request: Request, signature: Annotated[str | None, _SIGNED] = None) -> Response:
        return await _handle(provider, kind, request, signature)

    router.add_api_route(
        f"/{{provider}}/{kind}",
        endpoint,
        methods=["POST"],
        name=kind,
        summary=summary,
        response_class=Response,
        responses=_TWIML if twiml else _ANSWER,
        openapi_extra=_form(required, fields) | (_SIGNED_QUERY if signed else {}),
    )


# kind, summary, required fields, fields, answers TwiML, URL signed by memoguard
ROUTES: tuple[tuple[str, str, list[str], list[str], bool, bool], ...] = (
    (
        "status",
        "A message's delivery status, from Twilio (the StatusCallback of each SMS)",
        ["AccountSid", "MessageSid", "MessageStatus"],
        ["AccountSid", "MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "ErrorCode", "From", "To"],
        False,
        False,
    ),
    (
        "sms",
        "A text a phone sent to the provider's number, from Twilio (the number's messaging webhook)",
        ["AccountSid", "MessageSid", "From", "To", "Body"],
        ["AccountSid", "MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "NumSegments"],
        False,
        False,
    ),
    (
        "voice",
        "A call memoguard placed was answered (or came back with no key pressed): what it says, from Twilio",
        ["AccountSid", "CallSid"],
        _CALL,
        True,
        True,
    ),
    (
        "gather",
        "A key pressed on a call memoguard placed, from Twilio (the call's <Gather>)",
        ["AccountSid", "CallSid", "Digits"],
        [*_CALL, "Digits"],
        True,
        True,
    ),
    (
        "call",
        "A call's status, from Twilio (the StatusCallback of each call)",
        ["AccountSid", "CallSid", "CallStatus"],
        [*_CALL, "ErrorCode", "SipResponseCode"],
        False,
        True,
    ),
    (
        "conference",
        "A crisis bridge's event (started, ended, someone joined or left), from Twilio (<Conference> statusCallback)",
        ["AccountSid", "ConferenceSid", "FriendlyName", "StatusCallbackEvent"],
        ["AccountSid", "ConferenceSid", "FriendlyName", "StatusCallbackEvent", "CallSid", "Timestamp"],
        False,
        True,
    ),
    (
        "dial",
        "Someone called the provider's number (its voice webhook): a crisis-cell member joins the incident's bridge",
        ["AccountSid", "CallSid", "From"],
        _CALL,
        True,
        False,
    ),
)
for _kind, _summary, _required, _fields, _twiml, _signed in ROUTES:
    _route(_kind, _summary, _required, _fields, twiml=_twiml, signed=_signed)


async def _handle(provider: str, kind: str, request: Request, signature: str | None) -> Response:
    hook = application(request).hooks.get(provider)
    if hook is None:
        raise refuse(404, f"no twilio provider {provider!r}", ["path", "provider"])
    raw = await request.body()
    form = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    callback = Callback(kind, request.scope["path"], request.url.query, form, signature)
    try:
        document = await run_in_threadpool(hook.handle, callback)
    except Forged as error:
        raise refuse(403, str(error), ["header", SIGNATURE.lower()]) from None
    except Malformed as error:
        raise refuse(422, str(error), ["body"]) from None
    return Response(document or EMPTY_TWIML, media_type="text/xml")
