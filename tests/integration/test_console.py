"""The web console's pages, actions and live feed (issue 18) through the real application served by
uvicorn on loopback, with the injected clock, on every database: no session sends the browser to
/signin, a form POST without the session's CSRF token is 403 and changes nothing, the person acts
through the API's own authorisation, and the event stream resumes after ``Last-Event-ID`` without
missing an entry. The browser itself: tests/e2e/test_console_browser.py.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest

from memoguard.http import console_events
from memoguard.http.auth import SESSION_COOKIE
from memoguard.http.console_text import EN, FR
from tests.integration import test_signin
from tests.integration.test_signin import Web, _signed_in

web = test_signin.web  # the fixture: the service test configuration served, and a browser on it


def _state(w: Web, incident: str) -> str:
    with w.application.store.read() as unit:
        row = unit.incident_row(incident)
    assert row is not None
    return row.incident.state.value


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def _events(client: httpx.Client, count: int, **headers: str) -> list[dict[str, Any]]:
    """The first ``count`` timeline events of a fresh connection to /console/events (then it hangs up)."""
    found: list[dict[str, Any]] = []
    url = headers.pop("url", "/console/events")
    with client.stream("GET", url, headers=headers, timeout=10) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        event_id = None
        for line in answer.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["id"] == event_id
                found.append(data)
                if len(found) == count:
                    break
    return found


def test_without_a_session_every_page_sends_the_browser_to_sign_in_and_nothing_changes(web: Any) -> None:
    with web() as w:
        incident = w.open_incident()
        for path in ("/console", f"/console/incidents/{incident}", f"/console/incidents/{incident}/ack"):
            answer = w.client.get(path)
            assert (answer.status_code, answer.headers.get("location")) == (303, "/signin"), path
        posted = w.client.post(f"/console/incidents/{incident}/ack", data={"csrf": "anything"})
        assert (posted.status_code, posted.headers.get("location")) == (303, "/signin")
        w.client.cookies.set("mg_session", "mgs_forged")
        assert w.client.get("/console").status_code == 303
        assert w.client.post(f"/console/incidents/{incident}/ack", data={"csrf": "x"}).status_code == 303
        assert _state(w, incident) == "triggered"
        assert w.client.get("/console/events").status_code == 401


def test_a_form_post_without_the_sessions_csrf_token_is_403_and_changes_nothing(web: Any) -> None:
    with web() as w:
        incident = w.open_incident()
        _signed_in(w, "bob")
        asking = w.client.get(f"/console/incidents/{incident}/ack")
        assert asking.status_code == 200
        assert f'<form method="post" action="/console/incidents/{incident}/ack"' in asking.text
        assert "Yes, acknowledge" in asking.text  # bob reads English

        for data in ({}, {"csrf": ""}, {"csrf": "wrong"}):
            refused = w.client.post(f"/console/incidents/{incident}/ack", data=data)
            assert refused.status_code == 403, data
            assert "CSRF" in refused.text and 'role="alert"' in refused.text
        # The API's header is not a form's token: a cross-site form cannot set it, but neither may it stand in.
        page_token = _csrf(asking.text)
        refused = w.client.post(f"/console/incidents/{incident}/ack", headers={"X-CSRF-Token": page_token})
        assert refused.status_code == 403
        assert _state(w, incident) == "triggered"

        done = w.client.post(f"/console/incidents/{incident}/ack", data={"csrf": page_token})
        assert (done.status_code, done.headers["location"]) == (303, f"/console/incidents/{incident}?done=changed")
        page = w.client.get(done.headers["location"])
        assert "Done." in page.text and "acknowledged" in page.text
        assert _state(w, incident) == "acknowledged"
        assert ("bob", "ack", "web session") in [(p, a, h) for p, a, h, _, _ in w.audit()]

        huge = w.client.post(f"/console/incidents/{incident}/resolve", data={"csrf": page_token, "x": "y" * 5000})
        assert huge.status_code == 403 and _state(w, incident) == "acknowledged"  # not a console form: no token read
        again = w.client.post(f"/console/incidents/{incident}/ack", data={"csrf": page_token})
        assert again.headers["location"].endswith("done=unchanged")
        closed = w.client.post("/console/incidents/999999/resolve", data={"csrf": page_token})
        assert closed.status_code == 404 and "999999" in closed.text
        unknown = w.client.post(f"/console/incidents/{incident}/delete", data={"csrf": page_token})
        assert unknown.status_code == 404 and _state(w, incident) == "acknowledged"
        assert w.client.get("/console/incidents/999999").status_code == 404


def test_the_list_filters_and_speaks_the_persons_language(web: Any) -> None:
    with web() as w:
        incident = w.open_incident()
        _signed_in(w, "alice")  # French
        page = w.client.get("/console")
        assert page.status_code == 200 and '<html lang="fr">' in page.text
        assert f"#{incident} Disk full" in page.text and FR["verb_ack"] in page.text and EN["verb_ack"] not in page.text
        assert '<script src="/console/static/console.js"' in page.text and "https://" not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert f"#{incident} Disk full" not in w.client.get("/console", params={"source": "prometheus"}).text
        assert f"#{incident} Disk full" not in w.client.get("/console", params={"state": "resolved"}).text
        every = w.client.get("/console", params={"state": "all", "source": "monitoring"})
        assert f"#{incident} Disk full" in every.text
        bad = w.client.get("/console", params={"state": "<b>closed</b>"})
        assert bad.status_code == 422 and "Cet état n'existe pas" in html.unescape(bad.text)
        assert "&lt;b&gt;closed" in bad.text  # escaped
        assert f"#{incident} Disk full" not in bad.text
        fragment = w.client.get("/console", headers={"X-Console-Fragment": "1"})
        assert f"#{incident} Disk full" in fragment.text and "<html" not in fragment.text
        for name in ("console.js", "console.css"):
            static = w.client.get(f"/console/static/{name}")
            assert static.status_code == 200 and static.text
        assert w.client.get("/console/static/../../yaml").status_code == 404


def _stored_ids(w: Web) -> list[int]:
    with w.application.store.read() as unit:
        return [e.id for e in unit.timeline_after(0, 1000)]


def test_the_event_stream_resumes_after_last_event_id_and_misses_nothing(web: Any) -> None:
    with web() as w:
        first = w.open_incident()
        _signed_in(w, "bob")
        ids = _stored_ids(w)
        assert len(ids) >= 2
        everything = _events(w.client, len(ids), url="/console/events?after=0")
        assert [e["id"] for e in everything] == ids and {e["incident"] for e in everything} == {first}

        # Written while the browser was away: the reconnection gets it, after all it had not seen yet.
        second = w.client.post(
            "/api/v1/alarms",
            json={"dedup_key": "cpu-db2", "summary": "CPU hot"},
            headers={"Authorization": "Bearer monitoring-secret"},
        ).json()["alarms"][0]["incident"]
        now = _stored_ids(w)
        resumed = _events(w.client, len(now) - 1, **{"Last-Event-ID": str(ids[0])})
        assert [e["id"] for e in resumed] == now[1:]
        assert resumed[-1]["incident"] == second
        # ``after`` is the page's cursor; Last-Event-ID (a reconnection) wins over it.
        from_page = _events(w.client, 1, url=f"/console/events?after={ids[-1]}")
        assert from_page[0]["id"] == now[len(ids)] and from_page[0]["incident"] == second
        assert _events(w.client, 1, url="/console/events?after=0", **{"Last-Event-ID": str(ids[-1])}) == from_page

        assert w.client.get("/console/events", headers={"Last-Event-ID": "12; drop"}).status_code == 422
        assert w.client.get("/console/events?after=-1").status_code == 422


@pytest.mark.parametrize("verb", ["ack", "confirm", "resolve", "escalate"])
def test_every_action_has_its_confirmation_in_both_languages(web: Any, verb: str) -> None:
    with web() as w:
        incident = w.open_incident()
        _signed_in(w, "alice")
        page = w.client.get(f"/console/incidents/{incident}/{verb}")
        assert page.status_code == 200 and FR[f"yes_{verb}"] in page.text
        assert _state(w, incident) == "triggered"  # asking changes nothing


def test_the_event_stream_ends_soon_after_its_session_is_signed_out(web: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Timeline text names hosts and people: a browser signed out elsewhere must stop receiving it at the
    # next check (every KEEPALIVE polls), not at the stream's lifetime's end (here made endless).
    monkeypatch.setattr(console_events, "POLL", 0.02)
    monkeypatch.setattr(console_events, "KEEPALIVE", 3)
    monkeypatch.setattr(console_events, "LIFETIME", 1_000_000)
    with web() as w:
        w.open_incident()
        _signed_in(w, "bob")
        session = w.application.sessions.find(w.client.cookies[SESSION_COOKIE])
        assert session is not None
        lines = 0
        with w.client.stream("GET", "/console/events", timeout=10) as answer:
            assert answer.status_code == 200
            for line in answer.iter_lines():
                lines += 1
                if line == ": keepalive" and session is not None:
                    w.application.sessions.close(session, "127.0.0.1")  # signed out in another tab
                    session = None
                assert lines < 5_000, "the stream went on after its session was signed out"
        assert session is None  # it ended, after the sign-out
