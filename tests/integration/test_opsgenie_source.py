"""A source of kind opsgenie, served for real (uvicorn on loopback, test_http.py's ``served``), on every
database: Opsgenie's create, close and acknowledge alert requests, as a tool configured for Opsgenie sends
them (bodies in tests/fixtures/opsgenie/, see its README), and every refusal storing nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.integration.test_http import Served, assert_refused
from tests.integration.test_http import served as served  # noqa: PLC0414 (a fixture, registered by its name)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "opsgenie"
GENIE = {"Authorization": "GenieKey opsgenie-secret"}
ALERTS = "/api/v1/integrations/opsgenie/v2/alerts"
ALIAS = "3b1f0c9e6d2a4f58b7e2c1d0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c"


def body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def assert_accepted(response: httpx.Response) -> None:
    """Opsgenie's answer: 202, its three fields, a request id that is a UUID."""
    assert response.status_code == 202, response.text
    answer = response.json()
    assert set(answer) == {"result", "took", "requestId"}, answer
    assert answer["result"] == "Request will be processed"
    assert isinstance(answer["took"], float) and answer["took"] >= 0
    uuid.UUID(answer["requestId"])


def incident_row(served: Served) -> Any:
    with served.application.store.read() as unit:
        (row,) = unit.incidents([], 100)
    return row


def test_create_opens_an_incident_keyed_by_alias_with_p1_as_critical(served: Served) -> None:
    assert_accepted(served.client.post(ALERTS, json=body("create"), headers=GENIE))
    row = incident_row(served)
    assert row.incident.state.value == "triggered"
    assert served.pages(row.incident.id) == ["alice"]
    # The same alias again joins the incident: no second incident, no second page.
    assert_accepted(served.client.post(ALERTS, json=body("create"), headers=GENIE))
    assert len(served.incident_ids()) == 1
    assert served.pages(row.incident.id) == ["alice"]


def test_create_maps_the_alert_onto_the_alarm(served: Served) -> None:
    assert_accepted(served.client.post(ALERTS, json=body("create"), headers=GENIE))
    store: Any = served.application.store
    with store.engine.connect() as connection:
        row = connection.execute(text("SELECT source, dedup_key, severity, summary, details FROM alarm")).one()
    assert row.source == "grafana"
    assert row.dedup_key == ALIAS
    assert row.severity == "critical"
    assert row.summary == "Disk full on db1"
    assert "98% full" in row.details and "entity: db1" in row.details and "sent by: prometheus" in row.details


@pytest.mark.parametrize(("priority", "severity"), [("P2", "high"), ("P3", "warning"), ("P4", "low"), ("P5", "info")])
def test_priority_maps_to_severity(served: Served, priority: str, severity: str) -> None:
    response = served.client.post(ALERTS, json={"message": "m", "alias": "a", "priority": priority}, headers=GENIE)
    assert_accepted(response)
    assert _severities(served) == [severity]


def test_priority_defaults_to_p3_warning(served: Served) -> None:
    assert_accepted(served.client.post(ALERTS, json={"message": "m", "alias": "a"}, headers=GENIE))
    assert _severities(served) == ["warning"]


def _severities(served: Served) -> list[str]:
    store: Any = served.application.store
    with store.engine.connect() as connection:
        return [str(s) for s in connection.execute(text("SELECT severity FROM alarm")).scalars()]


def _dedup_keys(served: Served) -> list[str]:
    store: Any = served.application.store
    with store.engine.connect() as connection:
        return [str(s) for s in connection.execute(text("SELECT dedup_key FROM alarm ORDER BY id")).scalars()]


def test_without_an_alias_the_message_is_the_dedup_key(served: Served) -> None:
    for _ in range(2):
        assert_accepted(served.client.post(ALERTS, json={"message": "Backup failed"}, headers=GENIE))
    assert _dedup_keys(served) == ["Backup failed", "Backup failed"]
    assert len(served.incident_ids()) == 1


def test_an_alias_longer_than_a_dedup_key_is_hashed_alike_on_create_and_close(served: Served) -> None:
    alias = "x" * 400
    assert_accepted(served.client.post(ALERTS, json={"message": "m", "alias": alias}, headers=GENIE))
    (key,) = _dedup_keys(served)
    assert key.startswith("sha256:") and len(key) == 71
    response = served.client.post(f"{ALERTS}/{alias}/close", params={"identifierType": "alias"}, headers=GENIE)
    assert_accepted(response)
    assert incident_row(served).incident.state.value == "resolved"


def test_close_by_alias_resolves_the_incident(served: Served) -> None:
    assert_accepted(served.client.post(ALERTS, json=body("create"), headers=GENIE))
    response = served.client.post(
        f"{ALERTS}/{ALIAS}/close", params={"identifierType": "alias"}, json=body("close"), headers=GENIE
    )
    assert_accepted(response)
    assert incident_row(served).incident.state.value == "resolved"


def test_close_without_a_body_resolves_too(served: Served) -> None:
    assert_accepted(served.client.post(ALERTS, json={"message": "m", "alias": "a1"}, headers=GENIE))
    assert_accepted(served.client.post(f"{ALERTS}/a1/close?identifierType=alias", headers=GENIE))
    assert incident_row(served).incident.state.value == "resolved"


def test_acknowledge_from_the_tool_is_noted_on_the_timeline_but_is_no_persons_ack(served: Served) -> None:
    assert_accepted(served.client.post(ALERTS, json=body("create"), headers=GENIE))
    before = served.state()
    response = served.client.post(
        f"{ALERTS}/{ALIAS}/acknowledge", params={"identifierType": "alias"}, json=body("acknowledge"), headers=GENIE
    )
    assert_accepted(response)
    after = served.state()
    (incident,) = after["incidents"]
    noted = after["incidents"][incident].pop("timeline")
    expected = before["incidents"][incident].pop("timeline")
    assert after == before  # still triggered, nobody's ack, the same timers and pages, no alarm stored
    assert noted == [
        *expected,
        (
            "source_acknowledged",
            "grafana acknowledged in Grafana by Monitoring Script (not a person's ack: paging goes on): "
            "acknowledged in Grafana",
        ),
    ]
    assert incident_row(served).incident.acked_by == ()


def test_acknowledge_without_an_open_incident_writes_nothing(served: Served) -> None:
    before = served.state()
    response = served.client.post(f"{ALERTS}/nothing-open/acknowledge?identifierType=alias", headers=GENIE)
    assert_accepted(response)
    assert served.state() == before


@pytest.mark.parametrize("identifier_type", ["id", "tiny", None])
@pytest.mark.parametrize("verb", ["close", "acknowledge"])
def test_only_an_alias_identifies_an_alert(served: Served, identifier_type: str | None, verb: str) -> None:
    assert_accepted(served.client.post(ALERTS, json={"message": "m", "alias": "a1"}, headers=GENIE))
    before = served.state()
    params = {} if identifier_type is None else {"identifierType": identifier_type}
    response = served.client.post(f"{ALERTS}/a1/{verb}", params=params, headers=GENIE)
    assert_refused(served, before, response, 422, "identifierType")


@pytest.mark.parametrize("verb", ["close", "acknowledge"])
def test_an_unknown_query_parameter_is_refused_by_name(served: Served, verb: str) -> None:
    assert_accepted(served.client.post(ALERTS, json={"message": "m", "alias": "a1"}, headers=GENIE))
    before = served.state()
    params = {"identifierType": "alias", "identifiertype": "alias"}  # a misspelt second one
    response = served.client.post(f"{ALERTS}/a1/{verb}", params=params, headers=GENIE)
    assert_refused(served, before, response, 422, "identifiertype")


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 401, ("GenieKey",)),
        ({"Authorization": "GenieKey wrong"}, 401, ("invalid API key",)),
        ({"Authorization": "Bearer opsgenie-secret"}, 401, ("GenieKey",)),
        ({"Authorization": "GenieKey monitoring-secret"}, 403, ("'monitoring'", "generic", "opsgenie")),
    ],
)
def test_without_the_key_of_an_opsgenie_source_nothing_is_stored(
    served: Served, headers: dict[str, str], status: int, words: tuple[str, ...]
) -> None:
    before = served.state()
    for path in (ALERTS, f"{ALERTS}/a/close?identifierType=alias", f"{ALERTS}/a/acknowledge?identifierType=alias"):
        response = served.client.post(path, json=body("create") if path == ALERTS else {}, headers=headers)
        assert_refused(served, before, response, status, *words)
        assert "opsgenie-secret" not in response.text


def test_the_generic_endpoint_refuses_an_opsgenie_token(served: Served) -> None:
    before = served.state()
    response = served.client.post(
        "/api/v1/alarms", json={"dedup_key": "k", "summary": "s"}, headers={"Authorization": "Bearer opsgenie-secret"}
    )
    assert_refused(served, before, response, 403, "opsgenie")


@pytest.mark.parametrize(
    ("alert", "words"),
    [
        ({"alias": "a"}, ("message", "Field required")),
        ({"message": "   "}, ("message",)),
        ({"message": "m", "priority": "P6"}, ("priority",)),
        ({"message": "m", "priority": "p1"}, ("priority",)),
        ({"message": "m\u0000"}, ("message", "NUL")),
        ({"message": "m", "alias": "a\u0000"}, ("alias", "NUL")),
        ({"message": "m", "details": {"k": 1}}, ("details.k",)),
        ({"message": "m", "details": {"k\u0000": "v"}}, ("details", "NUL")),
        ({"message": "m", "tags": ["t\u0000"]}, ("tags.0", "NUL")),
        ({"message": "m", "alias": ""}, ("alias",)),
    ],
)
def test_a_bad_alert_is_refused_naming_the_field(served: Served, alert: dict[str, Any], words: tuple[str, ...]) -> None:
    before = served.state()
    assert_refused(served, before, served.client.post(ALERTS, json=alert, headers=GENIE), 422, *words)


def test_an_empty_create_body_is_refused(served: Served) -> None:
    before = served.state()
    response = served.client.post(ALERTS, content=b"", headers=GENIE)
    assert_refused(served, before, response, 400, "empty body")


@pytest.mark.parametrize("verb", ["close", "acknowledge"])
def test_a_nul_in_the_alias_or_the_note_is_refused(served: Served, verb: str) -> None:
    before = served.state()
    response = served.client.post(f"{ALERTS}/a%00b/{verb}?identifierType=alias", headers=GENIE)
    assert_refused(served, before, response, 422, "identifier")
    response = served.client.post(f"{ALERTS}/a/{verb}?identifierType=alias", json={"note": "n\u0000"}, headers=GENIE)
    assert_refused(served, before, response, 422, "note", "NUL")


@pytest.mark.parametrize(
    ("alias", "sent"),
    [
        ("db1/disk/full", "db1/disk/full"),
        ("db1/disk/full", "db1%2Fdisk%2Ffull"),
        ("db1\ndisk full", "db1%0Adisk%20full"),  # a line break: Starlette's own path converter stops there
    ],
)
@pytest.mark.parametrize("verb", ["close", "acknowledge"])
def test_an_alias_with_a_slash_is_closed_and_acknowledged(served: Served, alias: str, sent: str, verb: str) -> None:
    """Opsgenie's aliases may hold '/' (Alertmanager's group keys do): sent as is or URL-encoded, the alias is
    the path up to /close or /acknowledge, and reaches the incident that the create opened."""
    alert = {"message": "Disk full", "alias": alias, "priority": "P1"}
    assert_accepted(served.client.post(ALERTS, json=alert, headers=GENIE))
    before = served.state()
    response = served.client.post(f"{ALERTS}/{sent}/{verb}", params={"identifierType": "alias"}, headers=GENIE)
    assert_accepted(response)
    row = incident_row(served)
    if verb == "close":
        assert row.incident.state.value == "resolved"
    else:
        (incident,) = served.state()["incidents"]
        timeline = served.state()["incidents"][incident]["timeline"]
        assert len(timeline) == len(before["incidents"][incident]["timeline"]) + 1
        assert timeline[-1][0] == "source_acknowledged"
