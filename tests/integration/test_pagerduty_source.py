"""A source of kind pagerduty, served for real (uvicorn on loopback, test_http.py's ``served``), on every
database: PagerDuty's Events API v2 example events (tests/fixtures/pagerduty/, see its README), the
answers checked against the Events v2 shapes, and every refusal storing nothing."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.integration.test_http import Served
from tests.integration.test_http import served as served  # noqa: PLC0414 (a fixture, registered by its name)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pagerduty"
URL = "/api/v1/integrations/pagerduty/v2/enqueue"
KEY = "pagerduty-secret"  # the token of the service fixture's source 'events'


def event(name: str, dedup_key: str | None = "db1-disk", routing_key: str = KEY) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    loaded["routing_key"] = routing_key
    if dedup_key is None:
        loaded.pop("dedup_key", None)
    else:
        loaded["dedup_key"] = dedup_key
    return loaded


def send(served: Served, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return served.client.post(URL, content=body)
    return served.client.post(URL, json=body)


def assert_processed(response: httpx.Response) -> str:
    """PagerDuty's answer: 202 and exactly its three fields; the dedup key."""
    assert response.status_code == 202, response.text
    answer = response.json()
    assert set(answer) == {"status", "message", "dedup_key"}, answer
    assert answer["status"] == "success" and answer["message"] == "Event processed"
    key: str = answer["dedup_key"]
    return key


def assert_invalid(served: Served, before: dict[str, Any], response: httpx.Response, *words: str) -> None:
    """PagerDuty's refusal: 400, ``{"status": "invalid event", "message", "errors": [...]}``, errors naming
    every one of ``words``, and the database untouched."""
    assert response.status_code == 400, response.text
    answer = response.json()
    assert set(answer) == {"status", "message", "errors"}, answer
    assert answer["status"] == "invalid event" and isinstance(answer["message"], str)
    assert answer["errors"] and all(isinstance(e, str) for e in answer["errors"])
    said = " ".join(answer["errors"])
    for word in words:
        assert word in said, f"{word!r} not in {said!r}"
    assert served.state() == before


def incident(served: Served) -> Any:
    with served.application.store.read() as unit:
        (row,) = unit.incidents([], 100)
    return row.incident


def alarm_rows(served: Served) -> list[Any]:
    store: Any = served.application.store
    with store.engine.connect() as connection:
        return list(connection.execute(text("SELECT source, dedup_key, status, severity, summary, details FROM alarm")))


def test_trigger_opens_an_incident_and_answers_its_dedup_key(served: Served) -> None:
    assert assert_processed(send(served, event("trigger"))) == "db1-disk"
    (row,) = alarm_rows(served)
    assert (row.source, row.dedup_key, row.status, row.severity) == ("events", "db1-disk", "firing", "info")
    assert row.summary == "Example alert on host1.example.com"
    assert '"ping time": "1500ms"' in row.details and "component" not in row.details
    current = incident(served)
    assert current.state.value == "triggered"
    assert served.pages(current.id) == ["alice"]
    # The same key again joins it.
    assert_processed(send(served, event("trigger")))
    assert len(served.incident_ids()) == 1
    links = [t for kind, t in served.timeline(current.id) if kind == "links"]
    assert links == [
        "Link text: https://example.com/\nExample text: https://example.com/\n"
        "Sample Monitoring Service: https://monitoring.example.com"
    ]


def test_a_trigger_without_a_dedup_key_gets_a_new_one_each_time(served: Served) -> None:
    first = assert_processed(send(served, event("trigger", dedup_key=None)))
    second = assert_processed(send(served, event("trigger", dedup_key=None)))
    assert first != second
    uuid.UUID(first)
    assert len(served.incident_ids()) == 2


@pytest.mark.parametrize(
    ("given", "severity"), [("critical", "critical"), ("error", "high"), ("warning", "warning"), ("info", "info")]
)
def test_the_four_severities_are_mapped(served: Served, given: str, severity: str) -> None:
    body = event("trigger")
    body["payload"]["severity"] = given
    assert_processed(send(served, body))
    assert [r.severity for r in alarm_rows(served)] == [severity]


def test_resolve_resolves_the_incident(served: Served) -> None:
    assert_processed(send(served, event("trigger")))
    assert assert_processed(send(served, event("resolve"))) == "db1-disk"
    assert incident(served).state.value == "resolved"


def test_acknowledge_acknowledges_as_the_source_and_is_audited(served: Served) -> None:
    assert_processed(send(served, event("trigger")))
    assert assert_processed(send(served, event("acknowledge"))) == "db1-disk"
    current = incident(served)
    assert current.state.value == "acknowledged"
    assert current.acked_by == ("events",)
    assert (
        "acknowledged",
        "events acknowledged via source events (pagerduty event); incident acknowledged by events",
    ) in served.timeline(current.id)
    with served.application.store.read() as unit:
        audit = [e for e in unit.audit(None, 100) if e.action == "ack"]
    assert [(e.person, e.how, e.target, e.address) for e in audit] == [
        ("events", "source events (pagerduty event)", current.id, "127.0.0.1")
    ]


def test_a_source_whose_acknowledgement_expires_is_sent_no_notice(served: Served) -> None:
    # The expiry policy takes acknowledgements back after 30 minutes and tells the ackers: the source
    # that acknowledged is no person, so nothing is drafted for it (a notice to it could only fail).
    trigger = event("trigger")
    trigger["payload"]["group"] = "expiry"
    assert_processed(send(served, trigger))
    assert_processed(send(served, event("acknowledge")))
    served.clock.advance(timedelta(minutes=31))
    served.application.timers.fire_due()
    current = incident(served)
    assert current.state.value == "triggered" and current.acked_by == ()
    with served.application.store.read() as unit:
        told = [n.person for n in unit.notifications(current.id)]
    assert "events" not in told and told, told


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_of_nothing_open_is_accepted_and_changes_nothing(served: Served, action: str) -> None:
    before = served.state()
    assert_processed(send(served, event(action, dedup_key="nothing-open")))
    after = served.state()
    assert after["incidents"] == before["incidents"]


def _broken(change: str) -> Any:
    body = copy.deepcopy(event("trigger"))
    match change:
        case "action":
            body["event_action"] = "escalate"
        case "severity":
            body["payload"]["severity"] = "high"
        case "summary":
            del body["payload"]["summary"]
        case "blank":
            body["payload"]["summary"] = "  "
        case "payload":
            del body["payload"]
        case "source":
            body["payload"]["source"] = 7
        case "dedup":
            body = event("resolve", dedup_key=None)
        case "long":
            body["dedup_key"] = "k" * 256
        case "nul":
            body["payload"]["summary"] = "a\u0000b"
        case "link":
            body["links"] = [{"text": "no href"}]
        case "routing":
            del body["routing_key"]
        case "array":
            body = [body]
    return body


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("action", ("'event_action'",)),
        ("severity", ("'payload.severity'", "critical")),
        ("summary", ("'payload.summary'", "required")),
        ("blank", ("'payload.summary'", "blank")),
        ("payload", ("'payload'", "trigger")),
        ("source", ("'payload.source'",)),
        ("dedup", ("'dedup_key'", "resolve")),
        ("long", ("'dedup_key'", "255")),
        ("nul", ("'payload.summary'", "NUL")),
        ("link", ("'links.0.href'",)),
        ("routing", ("'routing_key'", "required")),
        ("array", ("JSON object",)),
    ],
)
def test_an_invalid_event_is_refused_as_pagerduty_does(served: Served, change: str, words: tuple[str, ...]) -> None:
    before = served.state()
    assert_invalid(served, before, send(served, _broken(change)), *words)


@pytest.mark.parametrize(("raw", "words"), [(b"", ("empty",)), (b"{", ("not valid JSON",)), (b"\xff", ("JSON",))])
def test_a_body_that_is_no_event_is_refused(served: Served, raw: bytes, words: tuple[str, ...]) -> None:
    before = served.state()
    assert_invalid(served, before, send(served, raw), *words)


def test_an_unknown_routing_key_is_refused_like_pagerduty(served: Served) -> None:
    before = served.state()
    response = send(served, event("trigger", routing_key="R0123456789abcdef0123456789abcde"))
    assert_invalid(served, before, response, "no configured source")
    assert response.json()["message"] == "Invalid routing key"


def test_the_routing_key_of_another_kind_of_source_is_refused(served: Served) -> None:
    before = served.state()
    response = send(served, event("trigger", routing_key="monitoring-secret"))
    assert_invalid(served, before, response, "'monitoring'", "generic", "not pagerduty")
    assert "monitoring-secret" not in response.text


def test_change_events_are_refused_clearly(served: Served) -> None:
    before = served.state()
    body = {"routing_key": KEY, "payload": {"summary": "Build success", "source": "ci"}}
    response = served.client.post("/api/v1/integrations/pagerduty/v2/change/enqueue", json=body)
    assert_invalid(served, before, response, "change events are not supported")


def test_other_endpoints_refuse_a_pagerduty_token(served: Served) -> None:
    response = served.client.post(
        "/api/v1/alarms", json={"dedup_key": "k", "summary": "s"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 403 and "pagerduty" in response.text
