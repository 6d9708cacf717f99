"""People and access (issue 23): personal API tokens on the incidents and on-call routes, roles, the
throttle of failed authentications and the audit trail, through the real application served by uvicorn
(the ``served`` fixture of test_http.py), on every database.

The service fixture: alice is paged first for a new incident (ops's primary), carol is not paged,
``root`` is the admin. Each person has a personal token (``Served.tokens``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute

from memoguard.http.app import create_app
from memoguard.http.auth import CSRF_HEADER, MAX_FAILURES, SESSION_COOKIE
from memoguard.services.access import MAX_NAME, Context
from memoguard.services.action import Verb
from memoguard.services.error import Invalid
from tests.integration.test_http import (
    ADMIN,
    ALARMS,
    INCIDENTS,
    MONITORING,
    ONCALL,
    Served,
    assert_refused,
    detail,
)

VERBS = ["ack", "confirm", "resolve", "escalate"]


def _tokens(served: Served) -> list[tuple[int, str, Any, Any]]:
    """The token rows, without their last use (which a successful authentication may write)."""
    return [(t.id, t.person, t.revoked_at, t.expires_at) for t in served.application.access.tokens()]


def _credentials(served: Served, case: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The headers and body of one row of the authorisation table."""
    context = Context("test")
    access = served.application.access
    match case:
        case "no-token":
            return {}, {}
        case "source-token":
            return MONITORING, {}
        case "not-paged":
            return served.as_("carol"), {}
        case "responder":
            return served.as_("alice"), {}
        case "responder-as-another":
            return served.as_("alice"), {"person": "bob", "reason": "bob asked me"}
        case "admin":
            return served.as_(ADMIN), {}
        case "admin-on-behalf":
            return served.as_(ADMIN), {"person": "alice", "reason": "alice's phone is dead"}
        case "admin-without-reason":
            return served.as_(ADMIN), {"person": "alice"}
        case "revoked":
            made, secret = access.create("alice", "old laptop", None, context)
            access.revoke(made.id, context)
            return {"Authorization": f"Bearer {secret}"}, {}
        case "expired":
            _, secret = access.create("alice", "short", timedelta(minutes=5), context)
            served.clock.advance(timedelta(minutes=5))
            return {"Authorization": f"Bearer {secret}"}, {}
    if case.startswith("session"):
        sessions = served.application.sessions
        opened = sessions.open("alice", "web session", "127.0.0.1")
        cookie = {"Cookie": f"{SESSION_COOKIE}={opened.secret}"}
        csrf = {CSRF_HEADER: opened.session.csrf}
        match case:
            case "session":
                return cookie | csrf, {}
            case "session-without-csrf":
                return cookie, {}
            case "session-wrong-csrf":
                return cookie | {CSRF_HEADER: opened.session.csrf[:-1] + "x"}, {}
            case "session-csrf-only":
                return csrf, {}
            case "session-and-a-bad-token":  # an unusable Authorization header is not passed over
                return cookie | csrf | {"Authorization": "Bearer mgp_nope"}, {}
            case "session-signed-out":
                sessions.close(opened.session, "127.0.0.1")
                return cookie | csrf, {}
            case "session-idle":
                served.clock.advance(sessions.idle)
                return cookie | csrf, {}
            case "session-too-old":
                for _ in range(int(sessions.absolute / sessions.idle) + 1):  # used, but past its absolute limit
                    served.clock.advance(sessions.idle - timedelta(minutes=1))
                    assert sessions.find(opened.secret) is not None or served.clock.now() >= opened.session.expires_at
                return cookie | csrf, {}
    raise AssertionError(case)


# (case, expected status, words of the refusal). "confirm" needs an ack first: the paged responder's and
# the admin's own confirm are refused by the state machine (403 "not acknowledged") exactly as before.
TABLE = [
    ("no-token", 401, ["missing bearer token"]),
    ("source-token", 401, ["invalid token"]),
    ("not-paged", 200, []),  # a responder may act on any incident, as themself (issue 23)
    ("responder", 200, []),
    ("responder-as-another", 403, ["alice may act only as themself"]),
    ("admin", 200, []),
    ("admin-on-behalf", 200, []),
    ("admin-without-reason", 422, ["reason"]),
    ("revoked", 401, ["invalid token"]),
    ("expired", 401, ["invalid token"]),
    # A web session (services/session.py): the cookie, and the session's CSRF token on every action.
    ("session", 200, []),
    ("session-without-csrf", 403, ["missing CSRF token", "X-CSRF-Token"]),
    ("session-wrong-csrf", 403, ["wrong CSRF token"]),
    ("session-csrf-only", 401, ["missing bearer token"]),
    ("session-and-a-bad-token", 401, ["invalid token"]),
    ("session-signed-out", 401, ["invalid session"]),
    ("session-idle", 401, ["invalid session"]),
    ("session-too-old", 401, ["invalid session"]),
]
ACTOR = {"responder": "alice", "not-paged": "carol", "session": "alice"}


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize(("case", "status", "words"), [pytest.param(*row, id=row[0]) for row in TABLE])
def test_who_may_act_on_an_incident(served: Served, verb: str, case: str, status: int, words: list[str]) -> None:
    incident = served.open_incident("disk-db1")
    if verb == "confirm":
        assert served.act(incident, "ack", "alice").status_code == 200
    headers, body = _credentials(served, case)
    before, tokens, audited = served.state(), _tokens(served), len(served.application.access.audit())

    response = served.client.post(f"{INCIDENTS}/{incident}/{verb}", json=body, headers=headers)

    if status == 200:
        assert response.status_code == 200, response.text
        acted = served.state()["incidents"][incident]
        assert acted != before["incidents"][incident]
        (entry,) = served.application.access.audit()[audited:]
        assert (entry.person, entry.action, entry.target) == (ACTOR.get(case, ADMIN), verb, incident)
        assert entry.how == ("web session" if case == "session" else "token test")
    else:
        assert_refused(served, before, response, status, *words)
        assert _tokens(served) == tokens
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "path", [INCIDENTS, f"{INCIDENTS}/{{incident}}", ONCALL], ids=["incidents", "incident", "oncall"]
)
@pytest.mark.parametrize(
    "case", ["no-token", "source-token", "revoked", "expired", "session-signed-out", "session-idle"]
)
def test_reading_takes_a_personal_token(served: Served, path: str, case: str) -> None:
    incident = served.open_incident("disk-db1")
    headers, _ = _credentials(served, case)

    refused = served.client.get(path.format(incident=incident), headers=headers)
    allowed = served.client.get(path.format(incident=incident), headers=served.as_("carol"))

    assert refused.status_code == 401, refused.text
    assert allowed.status_code == 200, allowed.text


def test_unknown_wrong_revoked_and_source_tokens_look_the_same(served: Served) -> None:
    context = Context("test")
    made, revoked = served.application.access.create("alice", "gone", None, context)
    served.application.access.revoke(made.id, context)
    real = served.tokens["alice"]
    candidates = {
        "unknown": "mgp_" + "A" * 43,
        "wrong": real[:-1] + ("B" if real[-1] != "B" else "C"),
        "revoked": revoked,
        "source": MONITORING["Authorization"].removeprefix("Bearer "),
    }

    answers = {
        name: served.client.get(INCIDENTS, headers={"Authorization": f"Bearer {token}"})
        for name, token in candidates.items()
    }

    shapes = {(r.status_code, r.text, r.headers["www-authenticate"]) for r in answers.values()}
    assert len(shapes) == 1, shapes
    assert next(iter(shapes))[0] == 401


def test_failed_authentications_are_throttled_per_address(served: Served) -> None:
    wrong = {"Authorization": "Bearer mgp_guess"}
    for _ in range(MAX_FAILURES):
        assert served.client.get(INCIDENTS, headers=wrong).status_code == 401
    audited = len(_audit(served))

    for refused in (wrong, {}, {"Cookie": f"{SESSION_COOKIE}=mgs_nope"}):
        throttled = served.client.get(INCIDENTS, headers=refused)
        assert throttled.status_code == 429, throttled.text
        assert "too many failed authentications" in detail(throttled)
        assert int(throttled.headers["retry-after"]) == 60
    assert len(_audit(served)) == audited  # failures while throttled fill no audit
    # Everyone behind one proxy shares its address: a stranger's guesses lock nobody with a good token out.
    assert served.client.get(INCIDENTS, headers=served.as_("alice")).status_code == 200
    assert served.client.get(INCIDENTS, headers=wrong).status_code == 429
    served.clock.advance(timedelta(minutes=1))
    assert served.client.get(INCIDENTS, headers=wrong).status_code == 401


def test_an_alarm_route_refuses_a_personal_token(served: Served) -> None:
    before = served.state()

    response = served.client.post(ALARMS, json={"dedup_key": "k", "summary": "s"}, headers=served.as_(ADMIN))

    assert_refused(served, before, response, 401, "invalid token")


def test_the_last_use_is_written_at_most_once_a_minute(served: Served) -> None:
    def last_use() -> Any:
        (alice,) = [t for t in served.application.access.tokens("alice") if t.name == "test"]
        return alice.last_used_at

    assert last_use() is None
    first = served.clock.now()
    assert served.client.get(INCIDENTS, headers=served.as_("alice")).status_code == 200
    served.clock.advance(timedelta(seconds=59))
    assert served.client.get(INCIDENTS, headers=served.as_("alice")).status_code == 200
    assert last_use() == first
    later = served.clock.advance(timedelta(seconds=1))
    assert served.client.get(INCIDENTS, headers=served.as_("alice")).status_code == 200
    assert last_use() == later


def _audit(served: Served) -> list[tuple[str | None, str, str, str | None, str | None, str]]:
    return [(e.person, e.action, e.how, e.address, e.target, e.detail) for e in served.application.access.audit()]


def test_actions_and_failures_are_audited_with_who_how_where(served: Served) -> None:
    incident = served.open_incident("disk-db1")
    start = len(_audit(served))  # the fixture's token creations

    assert served.act(incident, "ack", "alice").status_code == 200
    on_behalf = {"person": "alice", "reason": "phone dead"}
    response = served.client.post(f"{INCIDENTS}/{incident}/escalate", json=on_behalf, headers=served.as_(ADMIN))
    assert response.status_code == 200, response.text
    assert served.client.get(INCIDENTS, headers={"Authorization": "Bearer nope"}).status_code == 401
    served.application.actions.act(incident, Verb.RESOLVE, "alice", "SMS")  # what services/reply.py calls

    assert _audit(served)[start:] == [
        ("alice", "ack", "token test", "127.0.0.1", incident, ""),
        ("root", "escalate", "token test", "127.0.0.1", incident, "on behalf of alice: phone dead"),
        (None, "auth-failed", "bearer token", "127.0.0.1", None, "unknown token"),
        ("alice", "resolve", "sms", None, incident, ""),
    ]
    timeline = served.timeline(incident)
    assert any("root: phone dead" in text for _, text in timeline), timeline


def test_a_token_name_fits_the_audit_whatever_its_length(served: Served) -> None:
    # The audit's ``how`` is "token NAME" in a column of 200 characters, which PostgreSQL enforces: a name
    # of the longest length accepted must still let its token act, and a longer one is refused up front.
    access = served.application.access
    longest = "n" * MAX_NAME
    _, secret = access.create("alice", longest, None, Context("test"))
    incident = served.open_incident("disk-db1")
    response = served.client.post(f"{INCIDENTS}/{incident}/ack", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    assert _audit(served)[-1][:3] == ("alice", "ack", f"token {longest}")
    with pytest.raises(Invalid, match=f"a token's name must be 1 to {MAX_NAME} characters"):
        access.create("alice", longest + "n", None, Context("test"))


def test_a_refused_action_is_not_audited(served: Served) -> None:
    incident = served.open_incident("disk-db1")
    assert served.act(incident, "resolve", "alice").status_code == 200
    start = len(_audit(served))

    assert served.act(incident, "ack", "carol").status_code == 409  # refused by the state machine

    assert _audit(served)[start:] == []


# Routes authenticated by a signature of their own rather than a declared scheme: Twilio's webhooks
# (X-Twilio-Signature over the public URL, http/twilio.py) and e-mail links (the link's HMAC, http/link.py).
SIGNED = ("/twilio/", "/email/")
# Routes whose credential is in the body: PagerDuty's Events API takes its routing_key there (http/pagerduty.py).
BODY_KEYED = ("/api/v1/integrations/pagerduty/",)


def test_the_openapi_document_leaves_no_state_changing_route_open(served: Served) -> None:
    """Walks every operation of the document: each one that changes state declares a credential scheme
    (a bearer token, a web session's cookie, or an Opsgenie GenieKey) or is one of the signed routes, and
    answers no 2xx without a credential of its own kind (none, the other kind of token, a made-up one,
    a real session's cookie without its CSRF token or with a wrong one)."""
    incident = served.open_incident("disk-db1")
    document = served.client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    opened = served.application.sessions.open("alice", "web session", "127.0.0.1")
    cookie = {"Cookie": f"{SESSION_COOKIE}={opened.secret}"}
    other = {
        "personToken": [MONITORING, {"Cookie": f"{SESSION_COOKIE}=mgs_nope"}, cookie, cookie | {CSRF_HEADER: "x"}],
        "sourceToken": [served.as_(ADMIN)],
        "genieKey": [served.as_(ADMIN)],
        "routingKey": [MONITORING],  # as a routing_key: the token of a generic source
        None: [served.as_(ADMIN), cookie | {CSRF_HEADER: opened.session.csrf}],
    }
    made_up = {"genieKey": {"Authorization": "GenieKey nope"}}
    walked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "get":
                continue
            if "security" in operation:
                declared = sorted(scheme for requirement in operation["security"] for scheme in requirement)
                for name in declared:
                    assert schemes[name]["type"] in ("http", "apiKey"), (method, path)
                    assert schemes[name].get("scheme", "bearer") == "bearer", (method, path)
                # A person's routes take a token or a session (either suffices); others one scheme.
                assert declared in (["personSession", "personToken"], ["sourceToken"], ["genieKey"]), declared
                scheme = "personToken" if "personToken" in declared else declared[0]
            elif path.startswith(BODY_KEYED):
                scheme = "routingKey"
            else:
                assert path.startswith(SIGNED), f"{method} {path} declares no credential"
                scheme = None
            verbs = [p for p in operation.get("parameters", []) if p["name"] == "verb"]
            schema = verbs[0]["schema"] if verbs else {}
            if "$ref" in schema:
                schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            values = schema.get("enum")
            for verb in values or [None]:
                url = path.replace("{incident_id}", incident).replace("{verb}", str(verb))
                url = url.replace("{provider}", "twilio").replace("{token}", "nope").replace("{identifier}", "k")
                url = url.replace("{name}", "backup").replace("{silence_id}", "1")
                bad = made_up.get(scheme, {"Authorization": "Bearer nope"})
                for credential in ({}, *other[scheme], bad):
                    body: dict[str, Any] = {"dedup_key": "k", "summary": "s"}
                    headers = credential
                    if scheme == "routingKey":  # the key in the body: none, another kind's, a made-up one
                        key = credential.get("Authorization", "").partition(" ")[2]
                        body |= {
                            "event_action": "trigger",
                            "payload": {"summary": "s", "source": "h", "severity": "info"},
                        }
                        body |= {"routing_key": key} if key else {}
                        headers = {}
                    answer = served.client.request(method.upper(), url, json=body, headers=headers)
                    assert not answer.is_success, (method, url, headers, answer.text)
                    walked += 1
    assert walked >= 3 * (7 + len(VERBS))  # the ingestion routes (generic, alertmanager, grafana, zabbix,
    # opsgenie, pagerduty twice) and every verb
    assert served.state()["incidents"][incident]["state"] == "triggered"


# The HTML forms left out of the OpenAPI document (http/signin.py): each checks its own CSRF token.
HTML_FORMS = {"/signin", "/signin/code", "/signout"}
# The web console's action form (http/console.py): the session's CSRF token in the form, refused without
# it (tests/integration/test_console.py).
CONSOLE_FORMS = {"/console/incidents/{incident_id}/{verb}"}


def test_every_state_changing_route_outside_the_document_is_a_checked_form(served: Served) -> None:
    def routes(found: list[Any]) -> Iterator[APIRoute]:
        for route in found:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # FastAPI keeps an included router as one entry
                yield from routes(route.original_router.routes)

    app = create_app(served.application, lambda: True)
    every = list(routes(app.routes))
    hidden = {r.path for r in every if not r.include_in_schema and r.methods - {"GET", "HEAD"}}
    assert len(every) > 10
    # PagerDuty's change events: out of the document, refused whatever they carry (http/pagerduty.py).
    assert hidden == HTML_FORMS | CONSOLE_FORMS | {"/api/v1/integrations/pagerduty/v2/change/enqueue"}


@pytest.mark.parametrize("path", sorted(HTML_FORMS))
@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_an_html_form_without_its_csrf_token_is_refused_and_changes_nothing(
    served: Served, path: str, token: str
) -> None:
    opened = served.application.sessions.open("alice", "web session", "127.0.0.1")
    page = served.client.get("/signin")  # sets the form cookie (the client keeps it)
    assert page.status_code == 200
    form = {"who": "alice", "code": "123456"} | ({"csrf": "not-the-token"} if token == "wrong" else {})
    headers = {"Cookie": f"{SESSION_COOKIE}={opened.secret}"} if path == "/signout" else {}
    audited, outbox = len(served.application.access.audit()), _signin_rows(served)

    answer = served.client.post(path, data=form, headers=headers)

    assert answer.status_code == 403, answer.text
    assert "security token is missing or wrong" in answer.text
    assert len(served.application.access.audit()) == audited
    assert _signin_rows(served) == outbox
    assert served.application.sessions.find(opened.secret) is not None  # not signed out
    assert "set-cookie" not in answer.headers or SESSION_COOKIE not in answer.headers["set-cookie"]


def _signin_rows(served: Served) -> int:
    with served.application.store.read() as unit:
        return len([n for n in unit.ready_notifications(served.clock.now(), 1000) if n.purpose == "signin"])


def test_a_person_acts_with_their_token_and_no_body(served: Served) -> None:
    incident = served.open_incident("disk-db1")

    response = served.client.post(f"{INCIDENTS}/{incident}/ack", headers=served.as_("alice"))

    assert response.status_code == 200, response.text
    assert response.json()["incident"]["acknowledged_by"] == ["alice"]
