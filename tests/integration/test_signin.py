"""Web sign-in (issue 23): one-time codes, web sessions, CSRF and a trusted proxy's identity header,
through the real application served by uvicorn on loopback, with the injected clock, on every database.

The code is read where the dispatcher would take it: the outbox row written for the person (the
end-to-end test, tests/e2e/test_web_signin.py, reads it from the console provider of a real service).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.http.app import create_app
from memoguard.http.auth import CSRF_HEADER, SESSION_COOKIE
from memoguard.http.signin import FORM_COOKIE, PENDING_COOKIE, SIGNIN_REQUESTS
from memoguard.services.application import Application
from memoguard.services.record import Notification
from memoguard.services.signin import MAX_ATTEMPTS
from tests.conftest import FakeClock
from tests.integration.test_http import INCIDENTS, MONITORING, serving


class Web:
    """A browser (an httpx client keeping its cookies) on a served application."""

    def __init__(self, application: Application, client: httpx.Client, clock: FakeClock) -> None:
        self.application = application
        self.client = client
        self.clock = clock

    def form_token(self, **headers: str) -> str:
        page = self.client.get("/signin", headers=headers)
        assert page.status_code == 200, page.text
        return _csrf(page.text)

    def ask(self, who: str, **headers: str) -> httpx.Response:
        return self.client.post("/signin", data={"who": who, "csrf": self.form_token(**headers)}, headers=headers)

    def enter(self, code: str) -> httpx.Response:
        token = self.client.cookies.get(FORM_COOKIE, path="/signin")
        return self.client.post("/signin/code", data={"code": code, "csrf": token})

    def codes(self) -> list[Notification]:
        with self.application.store.read() as unit:
            return [n for n in unit.ready_notifications(self.clock.now(), 1000) if n.purpose == "signin"]

    def code_of(self, person: str) -> str:
        (sent,) = [n for n in self.codes() if n.person == person][-1:]
        found = re.search(r"\b(\d{6})\b", sent.text)
        assert found is not None, sent.text
        return found.group(1)

    def audit(self) -> list[tuple[str | None, str, str, str | None, str]]:
        return [(e.person, e.action, e.how, e.address, e.detail) for e in self.application.access.audit()]

    def open_incident(self) -> str:
        answer = self.client.post(
            "/api/v1/alarms", json={"dedup_key": "disk-db1", "summary": "Disk full"}, headers=MONITORING
        )
        assert answer.status_code == 200, answer.text
        incident: str = answer.json()["alarms"][0]["incident"]
        return incident


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


@pytest.fixture
def web(service_dir: Path, fake_clock: FakeClock) -> Iterator[Callable[..., Any]]:
    """``web(http_yaml)`` serves the service test configuration with ``http_yaml`` as its ``http:``
    section and yields a Web."""

    @contextmanager
    def serve(http: str = "") -> Iterator[Web]:
        main = service_dir / "memoguard.yaml"
        if http:
            main.write_text(main.read_text(encoding="utf-8") + "http:\n" + http, encoding="utf-8")
        application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
        try:
            with serving(create_app(application, lambda: True)) as url, httpx.Client(base_url=url) as client:
                yield Web(application, client, fake_clock)
        finally:
            store = application.store
            assert isinstance(store, SqlStore)
            store.close()

    yield serve


def _signed_in(web: Web, person: str = "alice") -> dict[str, str]:
    assert web.ask(person).status_code == 200
    answer = web.enter(web.code_of(person))
    assert answer.status_code == 303, answer.text
    info = web.client.get("/api/v1/session")
    assert info.status_code == 200, info.text
    return {CSRF_HEADER: info.json()["csrf_token"]}


def test_a_code_sent_over_the_persons_channels_signs_in_and_the_session_acts(web: Any) -> None:
    with web() as w:
        incident = w.open_incident()
        page = w.client.get("/signin")
        assert page.status_code == 200
        assert '<form method="post" action="/signin">' in page.text and "<script" not in page.text
        assert 'name="viewport"' in page.text

        asked = w.ask("alice@EXAMPLE.com")  # by e-mail address, letter case aside

        assert asked.status_code == 200, asked.text
        assert "/signin/code" in asked.text
        (sent,) = w.codes()
        assert (sent.person, sent.channels, sent.incident) == ("alice", ("sms", "email"), "")
        assert "Code de connexion memoguard" in sent.text  # alice reads French
        pending = asked.headers["set-cookie"]
        assert f"{PENDING_COOKIE}=" in pending and "HttpOnly" in pending and "samesite=lax" in pending.lower()

        signed = w.enter(w.code_of("alice"))

        assert signed.status_code == 303 and signed.headers["location"] == "/signin"
        cookie = signed.headers["set-cookie"]
        assert f"{SESSION_COOKIE}=mgs_" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie  # http.public_url is not https here
        assert "Path=/" in cookie
        home = w.client.get("/signin")
        assert "alice" in home.text and 'action="/signout"' in home.text
        info = w.client.get("/api/v1/session").json()
        assert info["person"] == "alice" and info["credential"] == "web session" and info["role"] == "responder"

        acked = w.client.post(f"{INCIDENTS}/{incident}/ack", headers={CSRF_HEADER: info["csrf_token"]})

        assert acked.status_code == 200, acked.text
        assert acked.json()["incident"]["acknowledged_by"] == ["alice"]
        assert [row[:3] for row in w.audit() if row[1] != "alarm"] == [
            ("alice", "signin-code", "web session"),
            ("alice", "signin", "web session"),
            ("alice", "ack", "web session"),
        ]
        assert all(row[3] == "127.0.0.1" for row in w.audit())


def test_a_used_code_an_expired_one_and_guesses_are_refused(web: Any) -> None:
    with web() as w:
        w.ask("bob")
        code = w.code_of("bob")
        pending = w.client.cookies.get(PENDING_COOKIE, path="/signin")
        assert pending is not None
        assert w.enter(code).status_code == 303
        w.client.cookies.clear()  # a replay with the code and the cookie of its request, both copied
        w.form_token()
        w.client.cookies.set(PENDING_COOKIE, pending, domain="127.0.0.1", path="/signin")

        replayed = w.enter(code)

        assert replayed.status_code == 401 and "does not work" in replayed.text
        assert SESSION_COOKIE not in replayed.headers.get("set-cookie", "")

        w.ask("bob")
        late = w.code_of("bob")
        w.clock.advance(w.application.signin.settings.ttl)
        assert w.enter(late).status_code == 401

        w.ask("bob")
        right = w.code_of("bob")
        wrong = f"{(int(right) + 1) % 10**6:06d}"
        for _ in range(MAX_ATTEMPTS):
            assert w.enter(wrong).status_code == 401
        assert w.enter(right).status_code == 401  # the request is dead after MAX_ATTEMPTS guesses

        failures = [row[4] for row in w.audit() if row[1] == "signin-failed"]
        assert failures == [
            "code already used",
            "code expired",
            *["wrong code"] * MAX_ATTEMPTS,
            f"{MAX_ATTEMPTS} wrong codes: ask for another",
        ]


def test_a_code_works_only_in_the_browser_that_asked_for_it(web: Any) -> None:
    with web() as w:
        w.ask("alice")
        code = w.code_of("alice")
        w.client.cookies.delete(PENDING_COOKIE, path="/signin")

        answer = w.enter(code)

        assert answer.status_code == 401
        assert w.audit()[-1][1:] == (
            "signin-failed",
            "web session",
            "127.0.0.1",
            "no code was asked for from this browser (or it is gone)",
        )


def test_the_answer_is_the_same_whether_or_not_the_name_is_someones(web: Any) -> None:
    with web() as w:
        answers = [w.ask(who) for who in ("alice", "mallory", "nobody@example.com")]

        shapes = {(a.status_code, a.text.replace(_csrf(a.text), "")) for a in answers}
        assert len(shapes) == 1
        assert [n.person for n in w.codes()] == ["alice"]
        assert [(row[0], row[1]) for row in w.audit()] == [
            ("alice", "signin-code"),
            (None, "signin-code"),
            (None, "signin-code"),
        ]


def test_codes_are_limited_per_person_and_requests_per_address(web: Any) -> None:
    with web() as w:
        settings = w.application.signin.settings
        for _ in range(settings.per_person + 1):
            assert w.ask("dave").status_code == 200  # the same answer beyond the limit…
        assert len(w.codes()) == settings.per_person  # …but no more codes
        assert "codes within" in w.audit()[-1][4]
        w.clock.advance(settings.window)
        assert w.ask("dave").status_code == 200
        assert len(w.codes()) == settings.per_person + 1

        for _ in range(SIGNIN_REQUESTS - 1):  # the window of the requests before began again too
            assert w.ask("nobody").status_code == 200
        refused = w.ask("erin")

        assert refused.status_code == 429 and "Too many attempts" in refused.text
        assert [n.person for n in w.codes()].count("erin") == 0


def test_a_form_without_a_name_or_a_code_says_what_is_missing(web: Any) -> None:
    with web() as w:
        token = w.form_token()
        empty = w.client.post("/signin", data={"who": " ", "csrf": token})
        no_code = w.client.post("/signin/code", data={"code": "", "csrf": token})

        assert empty.status_code == 422 and "Enter your name or your e-mail address" in empty.text
        assert no_code.status_code == 422 and "Enter the code you received" in no_code.text
        assert w.codes() == []


def test_signing_out_ends_the_session_everywhere(web: Any) -> None:
    with web() as w:
        csrf = _signed_in(w)
        cookie = w.client.cookies.get(SESSION_COOKIE)
        home = w.client.get("/signin")

        out = w.client.post("/signout", data={"csrf": _csrf(home.text)})

        assert out.status_code == 200 and "signed out" in out.text
        assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
        again = w.client.get("/api/v1/session", headers={"Cookie": f"{SESSION_COOKIE}={cookie}", **csrf})
        assert again.status_code == 401
        assert [row[:3] for row in w.audit()[-2:]] == [
            ("alice", "signout", "web session"),
            (None, "auth-failed", "web session"),  # the cookie tried again
        ]


def test_an_idle_session_expires_and_a_used_one_lasts(web: Any) -> None:
    with web() as w:
        _signed_in(w)
        sessions = w.application.sessions
        for _ in range(3):
            w.clock.advance(sessions.idle - timedelta(minutes=2))
            assert w.client.get("/api/v1/session").status_code == 200  # each use moves the idle limit on
        w.clock.advance(sessions.idle)

        assert w.client.get("/api/v1/session").status_code == 401
        assert '<form method="post" action="/signin">' in w.client.get("/signin").text


def test_the_page_speaks_the_browsers_language_then_the_persons(web: Any) -> None:
    with web() as w:
        french = w.client.get("/signin", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8"})
        english = w.client.get("/signin", headers={"Accept-Language": "de, en;q=0.5, fr;q=0.4"})

        assert "M'envoyer un code" in french.text and 'lang="fr"' in french.text
        assert "Send me a code" in english.text
        _signed_in(w, "bob")
        assert "You are signed in as" in w.client.get("/signin", headers={"Accept-Language": "fr"}).text


def test_cookies_are_secure_when_the_public_url_is_https(web: Any) -> None:
    with web("  public_url: https://memoguard.example.org\n") as w:
        asked = w.ask("alice")
        assert "Secure" in asked.headers["set-cookie"]
        page = w.client.get("/signin")
        assert "Secure" in page.headers["set-cookie"]


PROXY = "  auth:\n    proxy_header: X-Forwarded-User\n    proxy_addresses: [{}]\n"


def test_a_trusted_proxys_header_signs_in_the_person_it_names(web: Any) -> None:
    with web(PROXY.format("127.0.0.1/32, '::1/128'")) as w:
        page = w.client.get("/signin", headers={"X-Forwarded-User": "carol@example.com"})

        assert page.status_code == 200 and "carol" in page.text and "signout" in page.text
        assert f"{SESSION_COOKIE}=mgs_" in page.headers["set-cookie"]
        info = w.client.get("/api/v1/session").json()
        assert (info["person"], info["credential"]) == ("carol", "web session")
        assert w.audit()[-1][:4] == ("carol", "signin", "proxy", "127.0.0.1")

        w.client.cookies.clear()
        nobody = w.client.get("/signin", headers={"X-Forwarded-User": "mallory"})
        assert SESSION_COOKIE not in nobody.headers.get("set-cookie", "")
        assert w.audit()[-1][1:3] == ("signin-failed", "proxy")


def test_the_proxy_header_from_another_address_is_ignored_and_audited(web: Any) -> None:
    with web(PROXY.format("10.0.0.0/8")) as w:
        page = w.client.get("/signin", headers={"X-Forwarded-User": "root"})

        assert '<form method="post" action="/signin">' in page.text
        assert SESSION_COOKIE not in page.headers.get("set-cookie", "")
        assert w.client.get("/api/v1/session", headers={"X-Forwarded-User": "root"}).status_code == 401
        (entry,) = w.audit()
        assert entry[:4] == (None, "signin-refused", "proxy", "127.0.0.1")
        assert "not a listed proxy address" in entry[4]


def test_the_proxys_header_names_who_is_signed_in_whatever_the_browser_held(web: Any) -> None:
    with web(PROXY.format("127.0.0.1/32")) as w:
        w.client.get("/signin", headers={"X-Forwarded-User": "carol"})
        carol = w.client.cookies.get(SESSION_COOKIE)
        assert w.client.get("/signin", headers={"X-Forwarded-User": "carol"}).headers.get("set-cookie") is None

        switched = w.client.get("/signin", headers={"X-Forwarded-User": "bob"})

        assert "bob" in switched.text
        assert w.client.get("/api/v1/session").json()["person"] == "bob"
        assert w.application.sessions.find(carol or "") is None  # carol's session ended
        assert [row[:3] for row in w.audit()] == [
            ("carol", "signin", "proxy"),
            ("carol", "signout", "proxy"),
            ("bob", "signin", "proxy"),
        ]


def test_a_header_from_another_address_changes_no_session_and_is_audited(web: Any) -> None:
    with web(PROXY.format("10.0.0.0/8")) as w:
        _signed_in(w, "dave")

        page = w.client.get("/signin", headers={"X-Forwarded-User": "root"})

        assert "dave" in page.text and SESSION_COOKIE not in page.headers.get("set-cookie", "")
        assert w.client.get("/api/v1/session").json()["person"] == "dave"
        assert w.audit()[-1][:3] == (None, "signin-refused", "proxy")
