"""A source of kind grafana, served for real (uvicorn on loopback, test_http.py's ``served``), on every
database: Grafana's webhook contact point body as its documentation gives it (tests/fixtures/grafana/,
see its README), both ways Grafana authenticates, and every refusal storing nothing."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.integration.test_http import Served, assert_refused
from tests.integration.test_http import served as served  # noqa: PLC0414 (a fixture, registered by its name)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "grafana"
URL = "/api/v1/integrations/grafana"
BEARER = {"Authorization": "Bearer grafana-secret"}


def body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def post(served: Served, payload: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    return served.client.post(URL, json=payload, headers=BEARER if headers is None else headers)


def outcomes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [receipt["outcome"] for receipt in response.json()["alarms"]]


def alarms(served: Served) -> list[Any]:
    store: Any = served.application.store
    with store.engine.connect() as connection:
        query = text("SELECT source, dedup_key, status, severity, summary, details FROM alarm ORDER BY id")
        return list(connection.execute(query))


def test_a_body_of_two_firing_alerts_opens_two_incidents_keyed_by_fingerprint(served: Served) -> None:
    assert outcomes(post(served, body("firing"))) == ["opened", "opened"]
    rows = alarms(served)
    assert [(r.source, r.dedup_key, r.status) for r in rows] == [
        ("alerting", "c6eadffa33fcdf37", "firing"),
        ("alerting", "bc97ff14869b13e3", "firing"),
    ]
    assert [r.summary for r in rows] == [
        "This alert was triggered for zone us-1",
        "This alert was triggered for zone eu-1",
    ]
    assert [r.severity for r in rows] == ["warning", "warning"]  # no severity label: memoguard's default
    assert "runbook_url: https://myrunbook.com/runbook/1234" in rows[0].details
    # The same body again joins both incidents: nobody is paged twice.
    assert outcomes(post(served, body("firing"))) == ["attached", "attached"]
    assert len(served.incident_ids()) == 2


def test_the_links_are_kept_on_the_incident(served: Served) -> None:
    payload = body("firing")
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0] |= {
        "dashboardURL": "https://play.grafana.org/d/abc",
        "panelURL": "https://play.grafana.org/d/abc?viewPanel=2",
        "valueString": "[ var='B' labels={zone=us-1} value=44.2 ]",
    }
    (receipt,) = post(served, payload).json()["alarms"]
    links = [t for kind, t in served.timeline(receipt["incident"]) if kind == "links"]
    assert links == [
        "rule: https://play.grafana.org/alerting/1afz29v7z/edit\n"
        "dashboard: https://play.grafana.org/d/abc\n"
        "panel: https://play.grafana.org/d/abc?viewPanel=2\n"
        "silence: https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers="
        "alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1"
    ]
    (row,) = alarms(served)
    assert "values: [ var='B' labels={zone=us-1} value=44.2 ]" in row.details
    assert "dashboard: https://play.grafana.org/d/abc" in row.details


def test_resolved_resolves_the_incident_of_its_fingerprint(served: Served) -> None:
    post(served, body("firing"))
    assert outcomes(post(served, body("resolved"))) == ["resolved"]
    with served.application.store.read() as unit:
        states = {row.incident.summary: row.incident.state.value for row in unit.incidents([], 100)}
    assert states == {
        "This alert was triggered for zone us-1": "resolved",
        "This alert was triggered for zone eu-1": "triggered",
    }


@pytest.mark.parametrize(("label", "severity"), [("critical", "critical"), ("error", "high"), ("page", "page")])
def test_the_severity_label_is_mapped(served: Served, label: str, severity: str) -> None:
    payload = body("resolved")
    payload["alerts"][0] |= {"status": "firing", "labels": {"alertname": "x", "severity": label}}
    assert outcomes(post(served, payload)) == ["opened"]
    assert [r.severity for r in alarms(served)] == [severity]


@pytest.mark.parametrize("user", ["grafana", "", "anyone at all"])
def test_basic_auth_with_the_token_as_password_is_accepted(served: Served, user: str) -> None:
    assert outcomes(post(served, body("firing"), basic(user, "grafana-secret"))) == ["opened", "opened"]


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 401, ("missing token", "basic auth")),
        ({"Authorization": "Bearer wrong"}, 401, ("invalid token",)),
        (basic("grafana-secret", "wrong"), 401, ("invalid token",)),
        (basic("grafana", ""), 401, ("missing token",)),
        ({"Authorization": "Basic not-base64!"}, 401, ("missing token",)),
        ({"Authorization": "Token grafana-secret"}, 401, ("missing token",)),
        ({"Authorization": "Bearer prometheus-secret"}, 403, ("'prometheus'", "alertmanager", "not grafana")),
        (basic("x", "monitoring-secret"), 403, ("'monitoring'", "generic")),
    ],
)
def test_without_the_token_of_a_grafana_source_nothing_is_stored(
    served: Served, headers: dict[str, str], status: int, words: tuple[str, ...]
) -> None:
    before = served.state()
    response = post(served, body("firing"), headers)
    assert_refused(served, before, response, status, *words)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_other_endpoints_refuse_a_grafana_token(served: Served) -> None:
    before = served.state()
    response = served.client.post("/api/v1/alarms", json={"dedup_key": "k", "summary": "s"}, headers=BEARER)
    assert_refused(served, before, response, 403, "grafana")
    response = served.client.post("/api/v1/integrations/alertmanager", json=body("firing"), headers=BEARER)
    assert_refused(served, before, response, 403, "grafana")


def _broken(change: str) -> dict[str, Any]:
    payload = copy.deepcopy(body("firing"))
    alert = payload["alerts"][1]
    match change:
        case "version":
            payload["version"] = "4"
        case "status":
            alert["status"] = "pending"
        case "fingerprint":
            del alert["fingerprint"]
        case "labels":
            alert["labels"]["zone"] = 1
        case "nul":
            alert["annotations"]["summary"] = "a\u0000b"
        case "alerts":
            del payload["alerts"]
    return payload


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("version", ("version",)),
        ("status", ("alerts.1.status",)),
        ("fingerprint", ("alerts.1.fingerprint", "Field required")),
        ("labels", ("alerts.1.labels.zone",)),
        ("nul", ("alerts.1.annotations.summary", "NUL")),
        ("alerts", ("alerts", "Field required")),
    ],
)
def test_a_malformed_body_is_refused_naming_what_is_wrong(served: Served, change: str, words: tuple[str, ...]) -> None:
    before = served.state()
    assert_refused(served, before, post(served, _broken(change)), 422, *words)


def test_an_empty_or_non_json_body_is_refused(served: Served) -> None:
    before = served.state()
    assert_refused(served, before, served.client.post(URL, content=b"", headers=BEARER), 400, "empty body")
    assert_refused(served, before, served.client.post(URL, content=b"{", headers=BEARER), 422, "JSON")
