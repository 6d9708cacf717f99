"""The HTTP API served for real: uvicorn on 127.0.0.1 in a background thread, httpx as the client.

Every refusal is checked three ways: the status code, a message that says what is wrong, and that the
database holds exactly what it held before (incidents, their timelines, notifications, timers, alarms).
The engine is not running: tests fire timers and drain the outbox themselves, on the fake clock.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import jsonschema_rs  # schemathesis's own validator
import pytest
import uvicorn
from sqlalchemy import text

from memoguard import bootstrap
from memoguard.adapters.storage.store import SqlStore
from memoguard.http.app import create_app
from memoguard.http.limit import MAX_BODY
from memoguard.services.access import Context
from memoguard.services.application import Application

ALERTMANAGER = Path(__file__).parents[1] / "fixtures" / "alertmanager"  # captured bodies, see its README
FINGERPRINT = "e5cb976153386091"
T0 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)  # the fake clock's start (tests/conftest.py): alice's week

MONITORING = {"Authorization": "Bearer monitoring-secret"}
PROMETHEUS = {"Authorization": "Bearer prometheus-secret"}
ALARMS = "/api/v1/alarms"
ALERTMANAGER_URL = "/api/v1/integrations/alertmanager"
OPSGENIE_ROUTES = [  # Opsgenie's Alert API, for sources of kind opsgenie (tests/integration/test_opsgenie_source.py)
    f"/api/v1/integrations/opsgenie/v2/alerts{suffix}"
    for suffix in ("", "/{identifier}/close", "/{identifier}/acknowledge")
]
PAGERDUTY_URL = "/api/v1/integrations/pagerduty/v2/enqueue"  # tests/integration/test_pagerduty_source.py
INCIDENTS = "/api/v1/incidents"
ONCALL = "/api/v1/oncall"
ADMIN = "root"  # the admin of the service fixture; its token reads for the tests


def personal_tokens(application: Application) -> dict[str, str]:
    """A personal API token for every person of the configuration, made through the service the CLI uses."""
    context = Context("test")
    return {name: application.access.create(name, "test", None, context)[1] for name in application.config.people}


# --- the server ---------------------------------------------------------------------------------------


class FakeClock(Protocol):
    """The ``fake_clock`` fixture of tests/conftest.py."""

    def now(self) -> datetime: ...

    def advance(self, delta: timedelta) -> datetime: ...


@dataclass
class Served:
    application: Application
    client: httpx.Client
    clock: FakeClock
    alive: list[bool]
    lifespan: list[str] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)  # a personal API token per person of the config

    # -- reading the database directly, not through the API under test

    def state(self) -> dict[str, Any]:
        """Everything an ingestion or an action could have written, in a comparable form."""
        with self.application.store.read() as unit:
            incidents = {}
            for row in unit.incidents([], 100):
                key = row.incident.id
                incidents[key] = {
                    "state": row.incident.state.value,
                    "version": row.incident.version,
                    "step": row.incident.step,
                    "acked_by": row.incident.acked_by,
                    "alarms": row.alarms,
                    "timeline": [(e.kind, e.text) for e in unit.timeline(key)],
                    "notifications": [(n.person, n.purpose, n.status.value) for n in unit.notifications(key)],
                    "timers": [(t.kind.value, t.due_at, t.version) for t in unit.timers(key)],
                }
        return {"incidents": incidents, "alarms": self.alarm_count()}

    def alarm_count(self) -> int:
        store = self.application.store
        assert isinstance(store, SqlStore)
        with store.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM alarm")).scalar_one())

    def incident_ids(self) -> list[str]:
        with self.application.store.read() as unit:
            return [row.incident.id for row in unit.incidents([], 100)]

    def timeline(self, incident: str) -> list[tuple[str, str]]:
        with self.application.store.read() as unit:
            return [(e.kind, e.text) for e in unit.timeline(incident)]

    def pages(self, incident: str) -> list[str]:
        with self.application.store.read() as unit:
            return [n.person for n in unit.notifications(incident) if n.purpose == "page"]

    # -- posting

    def alarm(self, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        return self.client.post(ALARMS, json=body, headers=MONITORING if headers is None else headers)

    def open_incident(self, dedup_key: str = "disk-db1", **extra: Any) -> str:
        response = self.alarm(dedup_key=dedup_key, summary=f"{dedup_key} is on fire", **extra)
        assert response.status_code == 200, response.text
        (receipt,) = response.json()["alarms"]
        assert receipt["outcome"] == "opened"
        incident: str = receipt["incident"]
        return incident

    def as_(self, person: str) -> dict[str, str]:
        """The Authorization header of ``person``'s personal token."""
        return {"Authorization": f"Bearer {self.tokens[person]}"}

    def read(self, path: str, **options: Any) -> httpx.Response:
        """GET ``path`` with the admin's token."""
        return self.client.get(path, headers=self.as_(ADMIN), **options)

    def act(self, incident: str, verb: str, person: str, **extra: Any) -> httpx.Response:
        """``person`` acts with their own token; someone without one (unknown, invalid) is named by the
        admin ``root``, with a reason, so that the name itself is what the server judges."""
        if person in self.tokens:
            return self.client.post(f"{INCIDENTS}/{incident}/{verb}", json=extra, headers=self.as_(person))
        body = {"person": person, "reason": "named by the test", **extra}
        return self.client.post(f"{INCIDENTS}/{incident}/{verb}", json=body, headers=self.as_(ADMIN))


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive():
            pytest.fail("uvicorn stopped before it started serving (see the captured log)")
        if time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("uvicorn did not start within 10 s")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop within 10 s"


@pytest.fixture
def served(service_dir: Path, fake_clock: FakeClock) -> Iterator[Served]:
    application = bootstrap.application(bootstrap.load(service_dir), fake_clock)
    alive = [True]
    lifespan: list[str] = []

    @contextmanager
    def around() -> Iterator[None]:
        lifespan.append("start")
        yield
        lifespan.append("stop")

    app = create_app(application, lambda: alive[0], around)
    tokens = personal_tokens(application)
    try:
        with serving(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            yield Served(application, client, fake_clock, alive, lifespan, tokens)
        assert lifespan == ["start", "stop"], "the lifespan context must run around serving"
    finally:
        store = application.store
        assert isinstance(store, SqlStore)
        store.close()


@pytest.fixture(scope="module")
def alertmanager_payloads() -> dict[str, dict[str, Any]]:
    payloads = {}
    for name in ("firing", "resolved"):
        path = ALERTMANAGER / f"{name}.json"
        if not path.is_file():
            pytest.fail(f"missing Alertmanager fixture {path}: the shared fixtures must sit beside the repository")
        payloads[name] = json.loads(path.read_text(encoding="utf-8"))
    return payloads


def detail(response: httpx.Response) -> str:
    """The refusal's issues as one line (``labels.host: message; …``), once its shape is checked: the one
    the OpenAPI document gives every 4xx (memoguard/http/problem.py)."""
    body = response.json()
    assert set(body) == {"detail"}, body
    assert isinstance(body["detail"], list) and body["detail"], body
    lines = []
    for item in body["detail"]:
        assert set(item) == {"loc", "msg", "type"}, item
        assert all(isinstance(part, str | int) for part in item["loc"]), item
        assert isinstance(item["msg"], str) and isinstance(item["type"], str), item
        where = ".".join(str(part) for part in item["loc"][1:])
        lines.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(lines)


def assert_refused(served: Served, before: dict[str, Any], response: httpx.Response, status: int, *words: str) -> None:
    """``status``, a message naming every one of ``words``, and the database untouched."""
    assert response.status_code == status, response.text
    message = detail(response)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert served.state() == before


# --- generic alarms -----------------------------------------------------------------------------------


def test_a_firing_alarm_opens_an_incident_and_pages_the_first_step(served: Served) -> None:
    response = served.alarm(dedup_key="disk-db1", summary="Disk full on db1", severity="critical")

    assert response.status_code == 200, response.text
    (receipt,) = response.json()["alarms"]
    assert receipt["outcome"] == "opened"
    assert isinstance(receipt["alarm"], int)
    incident = receipt["incident"]
    assert served.incident_ids() == [incident]
    assert served.pages(incident) == ["alice"]
    assert served.alarm_count() == 1


def test_the_same_dedup_key_attaches_without_a_second_page(served: Served) -> None:
    incident = served.open_incident("disk-db1")

    response = served.alarm(dedup_key="disk-db1", summary="still full")

    assert response.status_code == 200, response.text
    assert response.json()["alarms"][0] | {"alarm": None} == {
        "alarm": None,
        "outcome": "attached",
        "incident": incident,
    }
    assert served.incident_ids() == [incident]
    assert served.pages(incident) == ["alice"]
    assert ("alarm_attached", "Another alarm attached: still full") in served.timeline(incident)
    assert served.alarm_count() == 2


def test_a_resolved_alarm_resolves_the_incident(served: Served) -> None:
    incident = served.open_incident("disk-db1")

    response = served.alarm(dedup_key="disk-db1", status="resolved")

    assert response.status_code == 200, response.text
    assert response.json()["alarms"][0]["outcome"] == "resolved"
    assert response.json()["alarms"][0]["incident"] == incident
    shown = served.read(f"{INCIDENTS}/{incident}").json()
    assert shown["state"] == "resolved"
    assert shown["timers"] == []


def test_a_resolved_alarm_without_an_open_incident_is_stored_and_ignored(served: Served) -> None:
    response = served.alarm(dedup_key="never-fired", status="resolved")

    assert response.status_code == 200, response.text
    assert response.json()["alarms"][0] | {"alarm": None} == {"alarm": None, "outcome": "ignored", "incident": None}
    assert served.incident_ids() == []
    assert served.alarm_count() == 1


def test_simultaneous_duplicates_open_one_incident(served: Served) -> None:
    # An Alertmanager HA pair sends every notification twice, at the same moment.
    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=served.client.base_url, timeout=30) as client:
            return client.post(ALARMS, json={"dedup_key": "twice", "summary": "sent by both"}, headers=MONITORING)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(16)))

    assert [r.status_code for r in responses] == [200] * 16, [r.text for r in responses]
    outcomes = sorted(r.json()["alarms"][0]["outcome"] for r in responses)
    assert outcomes == ["attached"] * 15 + ["opened"]
    (incident,) = served.incident_ids()
    assert {r.json()["alarms"][0]["incident"] for r in responses} == {incident}
    assert served.pages(incident) == ["alice"]
    assert served.alarm_count() == 16


def test_curl_style_form_content_type_with_a_json_body_is_accepted(served: Served) -> None:
    # What `curl -d '{"dedup_key": …}'` sends: a form Content-Type over a JSON body.
    body = json.dumps({"dedup_key": "curl", "summary": "sent with curl -d"})
    headers = {**MONITORING, "Content-Type": "application/x-www-form-urlencoded"}

    response = served.client.post(ALARMS, content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["alarms"][0]["outcome"] == "opened"
    (row,) = served.read(INCIDENTS).json()["incidents"]
    assert row["summary"] == "sent with curl -d"
    assert row["source"] == "monitoring"


def test_the_body_may_name_its_own_source(served: Served) -> None:
    response = served.alarm(source="monitoring", dedup_key="named", summary="names its source")

    assert response.status_code == 200, response.text
    assert response.json()["alarms"][0]["outcome"] == "opened"


def test_labels_route_the_alarm(served: Served) -> None:
    incident = served.open_incident("double-check", labels={"policy": "double"})

    assert served.read(f"{INCIDENTS}/{incident}").json()["policy"] == "double"


# --- Alertmanager ---------------------------------------------------------------------------------------


def test_alertmanager_firing_opens_one_incident_keyed_by_fingerprint(
    served: Served, alertmanager_payloads: dict[str, dict[str, Any]]
) -> None:
    response = served.client.post(ALERTMANAGER_URL, json=alertmanager_payloads["firing"], headers=PROMETHEUS)

    assert response.status_code == 200, response.text
    (receipt,) = response.json()["alarms"]
    assert receipt["outcome"] == "opened"
    (row,) = served.read(INCIDENTS).json()["incidents"]
    assert row["id"] == receipt["incident"]
    assert row["dedup_key"] == FINGERPRINT
    assert row["source"] == "prometheus"
    assert row["severity"] == "critical"
    assert row["policy"] == "simple"  # the catch-all route of the service fixture
    assert row["summary"] == "Disk full on db1"
    assert row["state"] == "triggered"
    assert row["paged"] == ["alice"]


def test_alertmanager_resolved_resolves_that_incident(
    served: Served, alertmanager_payloads: dict[str, dict[str, Any]]
) -> None:
    opened = served.client.post(ALERTMANAGER_URL, json=alertmanager_payloads["firing"], headers=PROMETHEUS)
    incident = opened.json()["alarms"][0]["incident"]

    response = served.client.post(ALERTMANAGER_URL, json=alertmanager_payloads["resolved"], headers=PROMETHEUS)

    assert response.status_code == 200, response.text
    assert response.json()["alarms"][0] | {"alarm": None} == {
        "alarm": None,
        "outcome": "resolved",
        "incident": incident,
    }
    shown = served.read(f"{INCIDENTS}/{incident}").json()
    assert shown["state"] == "resolved"
    assert shown["alarms"] == 2
    assert ("source_resolved", "prometheus reports the alarm resolved") in served.timeline(incident)


def test_alertmanager_again_with_the_same_fingerprint_attaches(
    served: Served, alertmanager_payloads: dict[str, dict[str, Any]]
) -> None:
    first = served.client.post(ALERTMANAGER_URL, json=alertmanager_payloads["firing"], headers=PROMETHEUS)
    second = served.client.post(ALERTMANAGER_URL, json=alertmanager_payloads["firing"], headers=PROMETHEUS)

    assert second.status_code == 200, second.text
    assert second.json()["alarms"][0]["outcome"] == "attached"
    assert second.json()["alarms"][0]["incident"] == first.json()["alarms"][0]["incident"]
    assert len(served.incident_ids()) == 1


def test_alertmanager_grouped_alerts_are_one_transaction(
    served: Served, alertmanager_payloads: dict[str, dict[str, Any]]
) -> None:
    payload = alertmanager_payloads["firing"]
    other = {**payload["alerts"][0], "fingerprint": "0123456789abcdef", "labels": {"alertname": "CpuHigh"}}
    other["annotations"] = {}
    grouped = {**payload, "alerts": [payload["alerts"][0], other]}

    response = served.client.post(ALERTMANAGER_URL, json=grouped, headers=PROMETHEUS)

    assert response.status_code == 200, response.text
    assert [r["outcome"] for r in response.json()["alarms"]] == ["opened", "opened"]
    summaries = sorted(row["summary"] for row in served.read(INCIDENTS).json()["incidents"])
    assert summaries == ["CpuHigh", "Disk full on db1"]


def test_alertmanager_refuses_a_generic_token(served: Served, alertmanager_payloads: dict[str, dict[str, Any]]) -> None:
    before = served.state()

    response = served.client.post(ALERTMANAGER_URL, json=alertmanager_payloads["firing"], headers=MONITORING)

    assert_refused(served, before, response, 403, "monitoring", "alertmanager")


def test_the_generic_endpoint_refuses_an_alertmanager_token(served: Served) -> None:
    before = served.state()

    response = served.client.post(ALARMS, json={"dedup_key": "k", "summary": "s"}, headers=PROMETHEUS)

    assert_refused(served, before, response, 403, "prometheus", "alertmanager")


def test_alertmanager_refuses_another_payload_version(
    served: Served, alertmanager_payloads: dict[str, dict[str, Any]]
) -> None:
    before = served.state()

    response = served.client.post(
        ALERTMANAGER_URL, json={**alertmanager_payloads["firing"], "version": "5"}, headers=PROMETHEUS
    )

    assert_refused(served, before, response, 422, "version", "4")


def test_alertmanager_one_bad_alert_stores_none_of_the_group(
    served: Served, alertmanager_payloads: dict[str, dict[str, Any]]
) -> None:
    payload = alertmanager_payloads["firing"]
    broken = {key: value for key, value in payload["alerts"][0].items() if key != "fingerprint"}
    before = served.state()

    response = served.client.post(
        ALERTMANAGER_URL, json={**payload, "alerts": [payload["alerts"][0], broken]}, headers=PROMETHEUS
    )

    assert_refused(served, before, response, 422, "alerts.1.fingerprint")


# --- authentication ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "challenge", "words"),
    [
        pytest.param({}, "Bearer", ["missing bearer token"], id="missing"),
        pytest.param({"Authorization": "Bearer nope"}, 'Bearer error="invalid_token"', ["invalid token"], id="wrong"),
        pytest.param(
            {"Authorization": "Basic bW9uaXRvcmluZzptb25pdG9yaW5nLXNlY3JldA=="}, "Bearer", ["bearer"], id="basic"
        ),
        pytest.param({"Authorization": "Bearer"}, "Bearer", ["missing bearer token"], id="empty"),
    ],
)
@pytest.mark.parametrize("url", [ALARMS, ALERTMANAGER_URL])
def test_without_a_valid_bearer_token_nothing_is_stored(
    served: Served,
    alertmanager_payloads: dict[str, dict[str, Any]],
    url: str,
    headers: dict[str, str],
    challenge: str,
    words: list[str],
) -> None:
    body = alertmanager_payloads["firing"] if url == ALERTMANAGER_URL else {"dedup_key": "x", "summary": "x"}
    before = served.state()

    response = served.client.post(url, json=body, headers=headers)

    assert_refused(served, before, response, 401, *words)
    assert response.headers["www-authenticate"] == challenge
    assert before == {"incidents": {}, "alarms": 0}


def test_a_body_naming_another_source_is_forbidden(served: Served) -> None:
    before = served.state()

    response = served.alarm(source="prometheus", dedup_key="spoof", summary="pretends to be prometheus")

    assert_refused(served, before, response, 403, "monitoring", "prometheus")


def test_tokens_do_not_leak_into_refusals(served: Served) -> None:
    response = served.alarm(source="prometheus", dedup_key="spoof", summary="x")

    assert "secret" not in response.text


# --- bad input ----------------------------------------------------------------------------------------------


def test_malformed_json_is_refused(served: Served) -> None:
    before = served.state()

    response = served.client.post(ALARMS, content=b'{"dedup_key": "x", summary: }', headers=MONITORING)

    assert_refused(served, before, response, 422, "JSON")


@pytest.mark.parametrize("body", [b"", b"  \n"], ids=["empty", "blank"])
def test_an_empty_body_is_refused(served: Served, body: bytes) -> None:
    before = served.state()

    response = served.client.post(ALARMS, content=body, headers=MONITORING)

    assert_refused(served, before, response, 400, "empty body")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param({"dedup_key": "x", "summary": "x", "priority": "P1"}, ["priority", "not permitted"], id="unknown"),
        pytest.param({"summary": "no key"}, ["dedup_key", "required"], id="no-dedup-key"),
        pytest.param({"dedup_key": "", "summary": "empty key"}, ["dedup_key"], id="empty-dedup-key"),
        pytest.param({"dedup_key": "x"}, ["summary", "firing"], id="firing-without-summary"),
        pytest.param({"dedup_key": "x", "summary": "   "}, ["summary", "firing"], id="blank-summary"),
        pytest.param({"dedup_key": "x", "summary": "x", "labels": {"port": 5432}}, ["labels.port"], id="int-label"),
        pytest.param({"dedup_key": "x", "summary": "x", "labels": {"a": None}}, ["labels.a"], id="null-label"),
        pytest.param({"dedup_key": "x", "summary": "x", "status": "ok"}, ["status", "firing"], id="bad-status"),
        pytest.param(["not", "an", "object"], ["object"], id="array"),
    ],
)
def test_invalid_alarms_are_refused_saying_why(served: Served, body: Any, words: list[str]) -> None:
    before = served.state()

    response = served.client.post(ALARMS, json=body, headers=MONITORING)

    assert_refused(served, before, response, 422, *words)


def _oversized() -> bytes:
    """A valid alarm padded with whitespace past the limit: without the limit it would be stored."""
    body = json.dumps({"dedup_key": "huge", "summary": "padded"}).encode()
    return body + b" " * (MAX_BODY + 1 - len(body))


def test_an_oversized_body_declared_by_content_length_is_refused(served: Served) -> None:
    body = _oversized()
    before = served.state()

    response = served.client.post(ALARMS, content=body, headers=MONITORING)

    assert response.request.headers["content-length"] == str(MAX_BODY + 1)
    assert_refused(served, before, response, 413, "larger than", str(MAX_BODY))


def test_an_oversized_content_length_is_refused_before_the_body_is_sent(served: Served) -> None:
    # A raw socket: declare more than the limit, send a few bytes, and the answer comes without the rest.
    url = served.client.base_url
    head = (
        f"POST {ALARMS} HTTP/1.1\r\nHost: {url.host}\r\nAuthorization: Bearer monitoring-secret\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
    )
    before = served.state()
    with socket.create_connection((url.host, url.port), timeout=10) as connection:
        connection.sendall(head.encode() + b'{"dedup_key": "huge", "summary": "never sent in full"}')
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = connection.recv(65536)
            assert chunk, f"connection closed after {reply!r}"
            reply += chunk
        headers, _, body = reply.partition(b"\r\n\r\n")
        length = int(next(h for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1])
        while len(body) < length:
            chunk = connection.recv(65536)
            assert chunk, f"connection closed after {reply!r}"
            body += chunk

    assert headers.startswith(b"HTTP/1.1 413 "), headers
    assert json.loads(body) == {
        "detail": [{"loc": ["body"], "msg": f"request body larger than {MAX_BODY} bytes", "type": "too_large"}]
    }
    assert served.state() == before


def test_an_oversized_streamed_body_without_content_length_is_refused(served: Served) -> None:
    body = _oversized()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    before = served.state()

    response = served.client.post(ALARMS, content=chunks(), headers=MONITORING)

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_refused(served, before, response, 413, "larger than", str(MAX_BODY))


def test_a_streamed_body_within_the_limit_is_accepted(served: Served) -> None:
    body = json.dumps({"dedup_key": "streamed", "summary": "sent in chunks"}).encode() + b" " * 100_000

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start : start + 16 * 1024]

    response = served.client.post(ALARMS, content=chunks(), headers=MONITORING)

    assert response.status_code == 200, response.text
    assert response.json()["alarms"][0]["outcome"] == "opened"


# --- incidents ----------------------------------------------------------------------------------------------


def test_incidents_are_listed_newest_first_and_filtered_by_state(served: Served) -> None:
    first = served.open_incident("one")
    second = served.open_incident("two")
    third = served.open_incident("three")
    assert served.act(second, "ack", "alice").status_code == 200
    assert served.act(third, "resolve", "alice").status_code == 200

    listed = served.read(INCIDENTS).json()["incidents"]
    assert [row["id"] for row in listed] == [third, second, first]
    assert [row["state"] for row in listed] == ["resolved", "acknowledged", "triggered"]

    def ids(**params: Any) -> list[str]:
        response = served.read(INCIDENTS, params=params)
        assert response.status_code == 200, response.text
        return [row["id"] for row in response.json()["incidents"]]

    assert ids(state="triggered") == [first]
    assert ids(state=["triggered", "acknowledged"]) == [second, first]
    assert ids(state="resolved") == [third]
    assert ids(limit=2) == [third, second]
    assert ids(limit=1, state="triggered") == [first]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        pytest.param({"limit": 0}, ["limit", "greater than or equal to 1"], id="limit-0"),
        pytest.param({"limit": 1001}, ["limit", "less than or equal to 1000"], id="limit-1001"),
        pytest.param({"limit": "many"}, ["limit", "integer"], id="limit-text"),
        pytest.param({"state": "open"}, ["state", "triggered"], id="unknown-state"),
    ],
)
def test_incident_list_parameters_are_checked(served: Served, params: dict[str, Any], words: list[str]) -> None:
    response = served.read(INCIDENTS, params=params)

    assert response.status_code == 422, response.text
    for word in words:
        assert word in detail(response)


def test_an_incident_shows_its_timeline_notifications_and_timers(served: Served) -> None:
    incident = served.open_incident("disk-db1")
    served.application.dispatcher.drain_all()

    response = served.read(f"{INCIDENTS}/{incident}")

    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["id"] == incident
    assert shown["state"] == "triggered"
    assert shown["policy"] == "simple"
    assert (shown["step"], shown["steps"]) == (1, 3)
    assert shown["opened_at"] == T0.isoformat()
    assert [e["kind"] for e in shown["timeline"]][:1] == ["alarm"]
    assert "paged" in [e["kind"] for e in shown["timeline"]]
    (page,) = shown["notifications"]
    assert (page["person"], page["purpose"], page["step"], page["status"]) == ("alice", "page", 1, "sent")
    assert page["channels"] == ["sms", "email"]
    (timer,) = shown["timers"]
    assert timer["kind"] == "ack_timeout"
    assert timer["due_at"] == (T0 + timedelta(minutes=5)).isoformat()


def test_an_unanswered_page_escalates_when_its_timer_fires(served: Served) -> None:
    incident = served.open_incident("disk-db1")
    served.clock.advance(timedelta(minutes=5))
    served.application.timers.fire_all_due()

    shown = served.read(f"{INCIDENTS}/{incident}").json()

    assert shown["step"] == 2
    assert shown["paged"] == ["alice", "bob"]
    assert [(n["person"], n["step"]) for n in shown["notifications"]] == [("alice", 1), ("bob", 2)]
    assert shown["timers"][0]["due_at"] == (T0 + timedelta(minutes=10)).isoformat()


@pytest.mark.parametrize(
    "incident",
    ["999999", "abc", "-1", "1.5", "+1", " 1", "99999999999999999999", "2147483648"],
)
def test_an_unknown_incident_is_not_found(served: Served, incident: str) -> None:
    served.open_incident("exists")
    before = served.state()

    shown = served.read(f"{INCIDENTS}/{incident}")
    acted = served.act(incident, "ack", "alice")

    for response in (shown, acted):
        assert_refused(served, before, response, 404, repr(incident))


def test_the_paged_person_acknowledges_and_a_repeat_changes_nothing(served: Served) -> None:
    incident = served.open_incident("disk-db1")

    first = served.act(incident, "ack", "alice")

    assert first.status_code == 200, first.text
    assert first.json()["changed"] is True
    assert first.json()["incident"]["state"] == "acknowledged"
    assert first.json()["incident"]["acknowledged_by"] == ["alice"]
    assert any("alice" in message for message in first.json()["messages"])
    assert served.read(f"{INCIDENTS}/{incident}").json()["timers"] == []

    before = served.state()
    again = served.act(incident, "ack", "alice")

    assert again.status_code == 200, again.text
    assert again.json()["changed"] is False
    assert again.json()["incident"]["state"] == "acknowledged"
    after = served.state()
    # The repeat is a recorded no-op: one timeline line, nothing else.
    after_incident, before_incident = after["incidents"][incident], before["incidents"][incident]
    assert after_incident["timeline"][:-1] == before_incident["timeline"]
    assert after_incident["timeline"][-1][0] == "duplicate"
    assert {k: v for k, v in after_incident.items() if k != "timeline"} == {
        k: v for k, v in before_incident.items() if k != "timeline"
    }


def test_someone_not_paged_may_acknowledge_as_themself(served: Served) -> None:
    """Issue 23: a responder may act on any incident with their own credential, as themself; the
    timeline and the audit name them. (SMS replies and e-mail links act only on incidents paged.)"""
    incident = served.open_incident("disk-db1")
    assert served.pages(incident) == ["alice"]

    response = served.act(incident, "ack", "carol")

    assert response.status_code == 200, response.text
    assert response.json()["incident"]["acknowledged_by"] == ["carol"]
    assert any("carol" in text for kind, text in served.timeline(incident) if kind == "acknowledged")


def test_an_unknown_person_may_not_act(served: Served) -> None:
    incident = served.open_incident("disk-db1")
    before = served.state()

    response = served.act(incident, "ack", "mallory")

    assert_refused(served, before, response, 403, "unknown person", "mallory")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param({"person": "alice", "note": "on it"}, ["note", "not permitted"], id="extra-field"),
        pytest.param({"person": "alice", "reason": ""}, ["reason"], id="empty-reason"),
        pytest.param({"person": ""}, ["person"], id="empty-person"),
    ],
)
def test_an_action_body_is_checked(served: Served, body: dict[str, Any], words: list[str]) -> None:
    incident = served.open_incident("disk-db1")
    before = served.state()

    response = served.client.post(f"{INCIDENTS}/{incident}/ack", json=body, headers=served.as_(ADMIN))

    assert_refused(served, before, response, 422, *words)


def test_an_unknown_verb_is_refused(served: Served) -> None:
    incident = served.open_incident("disk-db1")
    before = served.state()

    response = served.act(incident, "snooze", "alice")

    assert_refused(served, before, response, 422, "verb", "ack", "escalate")


@pytest.mark.parametrize("verb", ["ack", "confirm", "escalate", "resolve"])
def test_acting_on_a_resolved_incident_conflicts(served: Served, verb: str) -> None:
    incident = served.open_incident("disk-db1")
    assert served.act(incident, "resolve", "alice").status_code == 200
    before = served.state()

    response = served.act(incident, verb, "alice")

    assert_refused(served, before, response, 409, "resolved")


def test_an_admin_may_acknowledge_without_being_paged(served: Served) -> None:
    incident = served.open_incident("disk-db1")

    response = served.act(incident, "ack", "root")

    assert response.status_code == 200, response.text
    assert response.json()["changed"] is True
    assert response.json()["incident"]["acknowledged_by"] == ["root"]
    assert response.json()["incident"]["state"] == "acknowledged"


def test_escalate_pages_the_next_step(served: Served) -> None:
    incident = served.open_incident("disk-db1")

    response = served.act(incident, "escalate", "alice")

    assert response.status_code == 200, response.text
    assert response.json()["changed"] is True
    assert response.json()["incident"]["step"] == 2
    assert served.pages(incident) == ["alice", "bob"]
    served.application.dispatcher.drain_all()
    shown = served.read(f"{INCIDENTS}/{incident}").json()
    # alice's step-1 page had not gone yet: step 1 is over, so it is dropped rather than sent late.
    assert [n["status"] for n in shown["notifications"]] == ["cancelled", "sent"]
    assert shown["timers"][0]["due_at"] == (T0 + timedelta(minutes=5)).isoformat()


def test_resolve_cancels_the_timers(served: Served) -> None:
    incident = served.open_incident("disk-db1")
    assert served.read(f"{INCIDENTS}/{incident}").json()["timers"] != []

    response = served.act(incident, "resolve", "alice")

    assert response.status_code == 200, response.text
    assert response.json()["incident"]["state"] == "resolved"
    assert response.json()["incident"]["resolved_at"] == T0.isoformat()
    shown = served.read(f"{INCIDENTS}/{incident}").json()
    assert shown["timers"] == []
    served.clock.advance(timedelta(hours=1))
    assert served.application.timers.fire_all_due() == 0
    assert served.pages(incident) == ["alice"]


def test_confirm_in_double_mode(served: Served) -> None:
    incident = served.open_incident("double", labels={"policy": "double"})
    assert served.act(incident, "ack", "alice").json()["incident"]["state"] == "acknowledged"

    response = served.act(incident, "confirm", "alice")

    assert response.status_code == 200, response.text
    assert response.json()["incident"]["state"] == "confirmed"
    assert response.json()["incident"]["confirmed_by"] == ["alice"]


# --- on call ----------------------------------------------------------------------------------------------


def test_oncall_lists_every_roster_and_level(served: Served) -> None:
    response = served.read(ONCALL)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["at"] == T0.isoformat()
    people = {(row["roster"], row["level"]): row["person"] for row in body["oncall"]}
    assert people == {("ops", "primary"): "alice", ("ops", "secondary"): "bob"}
    (primary,) = [row for row in body["oncall"] if row["level"] == "primary"]
    assert primary["from"] == "2026-11-16T08:00:00+00:00"  # Monday 09:00 Paris
    assert primary["until"] == "2026-11-23T08:00:00+00:00"


def test_oncall_for_one_roster_and_level(served: Served) -> None:
    response = served.read(ONCALL, params={"roster": "ops", "level": "secondary"})

    assert response.status_code == 200, response.text
    (row,) = response.json()["oncall"]
    assert (row["roster"], row["level"], row["person"]) == ("ops", "secondary", "bob")


def test_oncall_at_an_instant_with_an_offset(served: Served) -> None:
    # Monday 23 November 08:59 in Paris is still alice's week; 09:00 is bob's.
    before = served.read(ONCALL, params={"roster": "ops", "level": "primary", "at": "2026-11-23T08:59:00+01:00"})
    after = served.read(ONCALL, params={"roster": "ops", "level": "primary", "at": "2026-11-23T08:00:00Z"})

    assert before.status_code == 200, before.text
    assert before.json()["oncall"][0]["person"] == "alice"
    assert before.json()["at"] == "2026-11-23T08:59:00+01:00"
    assert after.status_code == 200, after.text
    assert after.json()["oncall"][0]["person"] == "bob"


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        pytest.param({"at": "2026-11-23T09:00:00"}, 422, ["at", "offset"], id="naive-at"),
        pytest.param({"at": "next tuesday"}, 422, ["at"], id="garbage-at"),
        pytest.param({"roster": "dev"}, 404, ["unknown roster", "dev", "ops"], id="unknown-roster"),
        pytest.param({"roster": "ops", "level": "tertiary"}, 404, ["tertiary", "secondary"], id="unknown-level"),
        pytest.param({"level": "tertiary"}, 404, ["tertiary"], id="unknown-level-all-rosters"),
    ],
)
def test_oncall_parameters_are_checked(served: Served, params: dict[str, str], status: int, words: list[str]) -> None:
    response = served.read(ONCALL, params=params)

    assert response.status_code == status, response.text
    for word in words:
        assert word in detail(response)


def test_oncall_shows_a_stored_override(served: Served) -> None:
    number = served.application.overrides.add(
        "ops", "dave", T0 - timedelta(hours=1), T0 + timedelta(hours=2), "primary", "covering"
    )

    response = served.read(ONCALL, params={"roster": "ops", "level": "primary"})

    (row,) = response.json()["oncall"]
    assert row["person"] == "dave"
    assert row["source"] == f"override #{number}"
    assert row["from"] == (T0 - timedelta(hours=1)).isoformat()
    assert row["until"] == (T0 + timedelta(hours=2)).isoformat()
    later = served.read(ONCALL, params={"roster": "ops", "level": "primary", "at": "2026-11-17T13:00:00Z"})
    assert later.json()["oncall"][0]["person"] == "alice"


def test_an_override_pages_the_covering_person(served: Served) -> None:
    served.application.overrides.add("ops", "dave", T0, T0 + timedelta(hours=2), "primary")

    incident = served.open_incident("disk-db1")

    assert served.pages(incident) == ["dave"]
    assert served.act(incident, "ack", "dave").status_code == 200


# --- health and documentation ---------------------------------------------------------------------------------


def test_healthz(served: Served) -> None:
    response = served.client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_follows_the_engine(served: Served) -> None:
    ready = served.client.get("/readyz")
    served.alive[0] = False
    stalled = served.client.get("/readyz")
    served.alive[0] = True
    recovered = served.client.get("/readyz")

    assert ready.status_code == 200
    digest = served.application.config.digest
    assert len(digest) == 64  # the loaded configuration's SHA-256
    assert ready.json() == {"status": "ready", "config_hash": digest, "engines": []}  # no engine beats here
    assert stalled.status_code == 503
    assert stalled.json() == {
        "status": "unavailable",
        "config_hash": digest,
        "problems": ["engine loops are not running"],
        "engines": [],
    }
    assert recovered.status_code == 200


def test_readyz_reports_an_unreachable_database(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise ConnectionError("connection refused")

    monkeypatch.setattr(served.application.store, "ping", broken)

    response = served.client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["problems"] == ["database unreachable: connection refused"]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` the way an OpenAPI tool would: from the document's root."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert isinstance(ref, str) and ref.startswith("#/"), ref
    target: Any = document
    for part in ref[2:].split("/"):
        assert part in target, f"{ref} does not resolve in the OpenAPI document"
        target = target[part]
    return _resolve(document, target)


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def test_openapi_lists_the_api(served: Served) -> None:
    response = served.client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    assert {
        "/api/v1/alarms",
        "/api/v1/integrations/alertmanager",
        "/api/v1/incidents",
        "/api/v1/incidents/{incident_id}",
        "/api/v1/incidents/{incident_id}/{verb}",
        "/api/v1/oncall",
        "/healthz",
        "/readyz",
    } <= set(paths)
    alarm = paths["/api/v1/alarms"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"dedup_key", "summary", "labels"} <= set(_resolve(document, alarm)["properties"])
    alertmanager = paths["/api/v1/integrations/alertmanager"]["post"]["requestBody"]["content"]
    assert "alerts" in _resolve(document, alertmanager["application/json"]["schema"])["properties"]
    for ref in _refs(document):
        _resolve(document, {"$ref": ref})


def test_docs_are_served(served: Served) -> None:
    response = served.client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()
    assert "/openapi.json" in response.text


# --- NUL characters -----------------------------------------------------------------------------------------
# PostgreSQL cannot store U+0000 in text (psycopg raised DataError: a 500); SQLite kept it (a 200). Both refuse
# it now, before anything is written, naming the field. ``\u0000`` in the JSON is how it arrives.

NUL = "a\u0000b"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({"dedup_key": NUL, "summary": "s"}, ["body", "dedup_key"], id="dedup_key"),
        pytest.param({"dedup_key": "k", "summary": NUL}, ["body", "summary"], id="summary"),
        pytest.param({"dedup_key": "k", "summary": "s", "details": NUL}, ["body", "details"], id="details"),
        pytest.param({"dedup_key": "k", "summary": "s", "severity": NUL}, ["body", "severity"], id="severity"),
        pytest.param({"dedup_key": "k", "summary": "s", "source": NUL}, ["body", "source"], id="source"),
        pytest.param(
            {"dedup_key": "k", "summary": "s", "labels": {"host": NUL}}, ["body", "labels", "host"], id="label"
        ),
        pytest.param(
            {"dedup_key": "k", "summary": "s", "labels": {NUL: "db1"}},
            ["body", "labels", NUL, "[key]"],
            id="label-name",
        ),
        pytest.param({"dedup_key": "k", "status": "resolved", "summary": NUL}, ["body", "summary"], id="resolved"),
    ],
)
def test_a_nul_character_in_an_alarm_is_refused_naming_the_field(
    served: Served, body: dict[str, Any], loc: list[str]
) -> None:
    before = served.state()

    response = served.alarm(**body)

    assert_refused(served, before, response, 422, "NUL")
    (issue,) = response.json()["detail"]
    assert (issue["loc"], issue["type"]) == (loc, "nul_character")


def test_a_nul_escape_is_refused_as_sent_on_the_wire(served: Served) -> None:
    # The bytes a client sends: a JSON escape, not a raw NUL byte (which JSON does not allow in a string).
    raw = b'{"dedup_key": "k", "summary": "disk\\u0000full"}'
    before = served.state()

    response = served.client.post(ALARMS, content=raw, headers=MONITORING)

    assert_refused(served, before, response, 422, "summary", "NUL")


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        pytest.param({"labels": {"alertname": "DiskFull", "instance": NUL}}, ["labels", "instance"], id="label"),
        pytest.param({"labels": {NUL: "x"}}, ["labels", NUL, "[key]"], id="label-name"),
        pytest.param({"annotations": {"summary": NUL}}, ["annotations", "summary"], id="annotation"),
        pytest.param({"annotations": {NUL: "x"}}, ["annotations", NUL, "[key]"], id="annotation-name"),
        pytest.param({"fingerprint": NUL}, ["fingerprint"], id="fingerprint"),
        pytest.param({"generatorURL": NUL}, ["generatorURL"], id="generator-url"),
    ],
)
def test_a_nul_character_in_an_alertmanager_alert_is_refused_naming_the_field(
    served: Served, alertmanager_payloads: dict[str, dict[str, Any]], change: dict[str, Any], loc: list[str]
) -> None:
    payload = alertmanager_payloads["firing"]
    good = payload["alerts"][0]
    body = {**payload, "alerts": [good, {**good, "fingerprint": "0123456789abcdef", **change}]}
    before = served.state()

    response = served.client.post(ALERTMANAGER_URL, json=body, headers=PROMETHEUS)

    assert_refused(served, before, response, 422, "NUL")
    (issue,) = response.json()["detail"]
    assert issue["loc"] == ["body", "alerts", 1, *loc]


def test_a_nul_character_in_the_acting_person_is_refused(served: Served) -> None:
    incident = served.open_incident("disk-db1")
    before = served.state()

    response = served.act(incident, "ack", NUL)

    assert_refused(served, before, response, 422, "person", "NUL")


# --- the contract: one shape for every refusal, the schema and the server agree ------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/api/v1/nowhere", 404, id="unknown-route"),
        pytest.param("GET", ALARMS, 405, id="wrong-method"),
        pytest.param("DELETE", INCIDENTS, 405, id="wrong-method-incidents"),
    ],
)
def test_routing_refusals_have_the_documented_shape(served: Served, method: str, path: str, status: int) -> None:
    response = served.client.request(method, path)

    assert response.status_code == status, response.text
    assert detail(response)


def test_a_body_that_is_not_text_is_refused_not_a_server_error(served: Served) -> None:
    before = served.state()

    response = served.client.post(ALARMS, content=b"\xe8\xd7B\x17\xdf", headers=MONITORING)

    assert_refused(served, before, response, 422, "JSON")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        pytest.param({"truncatedAlerts": False}, ["truncatedAlerts", "integer"], id="truncated-false"),
        pytest.param({"truncatedAlerts": "3"}, ["truncatedAlerts", "integer"], id="truncated-text"),
        pytest.param(
            {"truncatedAlerts": -1}, ["truncatedAlerts", "greater than or equal to 0"], id="truncated-negative"
        ),
        pytest.param({"receiver": 5}, ["receiver", "string"], id="receiver-number"),
    ],
)
def test_alertmanager_types_are_strict(
    served: Served, alertmanager_payloads: dict[str, dict[str, Any]], change: dict[str, Any], words: list[str]
) -> None:
    before = served.state()

    response = served.client.post(
        ALERTMANAGER_URL, json={**alertmanager_payloads["firing"], **change}, headers=PROMETHEUS
    )

    assert_refused(served, before, response, 422, *words)


@pytest.mark.parametrize(
    "at",
    ["0.5", "1700000000", "2026-11-23", "2026-11-23 08:00:00+01:00", "2026-11-23T08:00+01:00", "2026-13-01T00:00:00Z"],
)
def test_oncall_at_must_be_an_rfc3339_instant(served: Served, at: str) -> None:
    response = served.read(ONCALL, params={"at": at})

    assert response.status_code == 422, response.text
    assert detail(response).startswith(f"at: {at!r} is not an instant with an offset")


# A call's TwiML, a key pressed, a call's status, a crisis bridge's event.
TWILIO_CALL_ROUTES = ("voice", "gather", "call", "conference", "dial")


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_openapi_documents_every_refusal_in_the_one_shape(served: Served) -> None:
    document = served.client.get("/openapi.json").json()
    expected = {
        ("POST", ALARMS): {"400", "401", "403", "413", "422"},
        ("POST", ALERTMANAGER_URL): {"400", "401", "403", "413", "422"},
        **{("POST", path): {"400", "401", "403", "413", "422"} for path in OPSGENIE_ROUTES},
        ("POST", "/api/v1/integrations/grafana"): {"400", "401", "403", "413", "422"},
        ("POST", "/api/v1/integrations/zabbix"): {"400", "401", "403", "413", "422"},
        # PagerDuty's Events API refuses in its own shape (http/pagerduty.py): its 400 is InvalidEvent.
        ("POST", PAGERDUTY_URL): {"400", "413"},
        ("GET", INCIDENTS): {"401", "422", "429"},
        ("GET", f"{INCIDENTS}/{{incident_id}}"): {"401", "404", "422", "429"},
        ("POST", f"{INCIDENTS}/{{incident_id}}/{{verb}}"): {"400", "401", "403", "404", "409", "413", "422", "429"},
        ("GET", ONCALL): {"401", "404", "422", "429"},
        ("POST", "/api/v1/heartbeats/{name}"): {"400", "401", "403", "404", "413", "422"},
        ("GET", "/api/v1/heartbeats"): {"401", "429"},
        ("GET", "/api/v1/silences"): {"401", "422", "429"},
        ("POST", "/api/v1/silences"): {"400", "401", "403", "413", "422", "429"},
        ("DELETE", "/api/v1/silences/{silence_id}"): {"401", "403", "404", "409", "422", "429"},
        ("GET", "/api/v1/session"): {"401", "429"},
        ("GET", "/healthz"): set(),
        ("GET", "/readyz"): set(),
        ("POST", "/twilio/{provider}/status"): {"403", "404", "413", "422"},
        ("POST", "/twilio/{provider}/sms"): {"403", "404", "413", "422"},
        **{("POST", f"/twilio/{{provider}}/{route}"): {"403", "404", "413", "422"} for route in TWILIO_CALL_ROUTES},
        # The e-mail links answer HTML pages for people on a phone (http/link.py), in the docs as such.
        ("GET", "/email/{token}"): {"403", "404", "409", "410", "422"},
        ("POST", "/email/{token}"): {"403", "404", "409", "410", "422"},
    }

    seen = {}
    for method, path, operation in _operations(document):
        refusals = {status for status in operation["responses"] if status.startswith("4")}
        seen[(method, path)] = refusals
        html = {status for status in refusals if path.startswith("/email/") and status != "422"}
        assert all(list(operation["responses"][status]["content"]) == ["text/html"] for status in html)
        for status in refusals - html:
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            shape = "InvalidEvent" if (path, status) == (PAGERDUTY_URL, "400") else "ErrorBody"
            assert schema == {"$ref": f"#/components/schemas/{shape}"}, (method, path, status)
    assert seen == expected
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["detail"]
    issue = _resolve(document, error["properties"]["detail"]["items"])
    assert sorted(issue["required"]) == ["loc", "msg", "type"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


PERSON = [{"personToken": []}, {"personSession": []}]


def test_openapi_says_which_routes_take_which_token(served: Served) -> None:
    document = served.client.get("/openapi.json").json()

    schemes = {(method, path): op.get("security") for method, path, op in _operations(document)}

    assert schemes == {
        ("POST", ALARMS): [{"sourceToken": []}],
        ("POST", ALERTMANAGER_URL): [{"sourceToken": []}],
        **{("POST", path): [{"genieKey": []}] for path in OPSGENIE_ROUTES},  # GenieKey, not a bearer token
        ("POST", "/api/v1/integrations/grafana"): [{"sourceToken": []}],  # or basic auth (in its description)
        ("POST", "/api/v1/integrations/zabbix"): [{"sourceToken": []}],
        ("POST", PAGERDUTY_URL): None,  # the body's routing_key (PagerDuty's Events API), no header
        # A person's routes: a personal token, or a web session's cookie (either one).
        ("GET", INCIDENTS): PERSON,
        ("GET", f"{INCIDENTS}/{{incident_id}}"): PERSON,
        ("POST", f"{INCIDENTS}/{{incident_id}}/{{verb}}"): PERSON,
        ("GET", ONCALL): PERSON,
        ("GET", "/api/v1/session"): PERSON,
        ("POST", "/api/v1/heartbeats/{name}"): [{"sourceToken": []}],  # the heartbeat's own source
        ("GET", "/api/v1/heartbeats"): PERSON,
        ("GET", "/api/v1/silences"): PERSON,
        ("POST", "/api/v1/silences"): PERSON,
        ("DELETE", "/api/v1/silences/{silence_id}"): PERSON,
        ("GET", "/healthz"): None,
        ("GET", "/readyz"): None,
        # Signed otherwise: Twilio's X-Twilio-Signature (http/twilio.py), the link's own HMAC (http/link.py).
        ("POST", "/twilio/{provider}/status"): None,
        ("POST", "/twilio/{provider}/sms"): None,
        **{("POST", f"/twilio/{{provider}}/{route}"): None for route in TWILIO_CALL_ROUTES},
        ("GET", "/email/{token}"): None,
        ("POST", "/email/{token}"): None,
    }
    assert document["components"]["securitySchemes"]["genieKey"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "",
    }
    for name in ("sourceToken", "personToken"):
        assert document["components"]["securitySchemes"][name] | {"description": ""} == {
            "type": "http",
            "scheme": "bearer",
            "description": "",
        }
    assert document["components"]["securitySchemes"]["personSession"] | {"description": ""} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "mg_session",
        "description": "",
    }


def test_openapi_documents_the_health_answers(served: Served) -> None:
    paths = served.client.get("/openapi.json").json()["paths"]

    assert set(paths["/healthz"]["get"]["responses"]) == {"200"}
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        pytest.param({"dedup_key": "k", "summary": "s"}, True, id="firing"),
        pytest.param({"dedup_key": "k"}, False, id="firing-without-summary"),
        pytest.param({"dedup_key": "k", "summary": ""}, False, id="firing-empty-summary"),
        pytest.param({"dedup_key": "k", "summary": " \t"}, False, id="firing-blank-summary"),
        pytest.param({"dedup_key": "k", "status": "firing", "summary": ""}, False, id="explicit-firing-empty"),
        pytest.param({"dedup_key": "k", "status": "resolved"}, True, id="resolved-without-summary"),
        pytest.param({"dedup_key": "k", "status": "resolved", "summary": ""}, True, id="resolved-empty-summary"),
        pytest.param({"dedup_key": 5, "summary": "s"}, False, id="number-for-string"),
        pytest.param({"dedup_key": "k", "summary": "s", "labels": {"port": 5432}}, False, id="number-label"),
        pytest.param({"dedup_key": "k", "summary": "s", "severity": ""}, False, id="empty-severity"),
        pytest.param({"dedup_key": "k", "summary": "s", "details": NUL}, False, id="nul"),
        pytest.param({"dedup_key": "k", "summary": "s", "labels": {NUL: "x"}}, False, id="nul-label-name"),
    ],
)
def test_the_schema_and_the_server_agree_on_alarms(served: Served, body: dict[str, Any], valid: bool) -> None:
    document = served.client.get("/openapi.json").json()
    schema = document["paths"][ALARMS]["post"]["requestBody"]["content"]["application/json"]["schema"]

    response = served.alarm(**body)

    assert jsonschema_rs.Draft202012Validator(schema).is_valid(body) is valid
    assert (response.status_code == 200) is valid, response.text


def test_metrics_are_not_served_without_a_metrics_token(served: Served) -> None:
    answer = served.client.get("/metrics", headers=served.as_("alice"))  # a person's token is not one
    assert answer.status_code == 404
    assert "set metrics.token_file or metrics.token_env" in answer.json()["detail"][0]["msg"]
    assert "/metrics" not in served.client.get("/openapi.json").json()["paths"]  # Prometheus's format, not the API's
