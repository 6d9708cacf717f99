"""The Grafana, Zabbix and PagerDuty sources end to end, through a real ``memoguard serve`` (tests/e2e/
service.py): each tool's documented body in, the first page out through the console provider, then the
tool's own way of ending it (resolved alert, recovery, resolve event; PagerDuty's acknowledge too)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.service import Service, e2e_config, eventually

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fixture(*parts: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURES.joinpath(*parts).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    running = Service(e2e_config(tmp_path, database_url))
    running.start()
    yield running
    running.stop()


def incident(service: Service, number: str) -> dict[str, Any]:
    answer = httpx.get(f"{service.url}/api/v1/incidents/{number}", headers=service.bearer())
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def paged(service: Service, number: str) -> list[dict[str, Any]]:
    return eventually(
        lambda: [p for p in service.pages() if str(p.get("incident")) == number],
        10,
        f"a page for incident {number}",
    )


def test_grafana_with_basic_auth(service: Service) -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(b"grafana:grafana-e2e").decode()}
    url = f"{service.url}/api/v1/integrations/grafana"
    answer = httpx.post(url, json=fixture("grafana", "firing.json"), headers=auth)
    assert answer.status_code == 200, answer.text
    receipts = answer.json()["alarms"]
    assert [r["outcome"] for r in receipts] == ["opened", "opened"]
    first = receipts[0]["incident"]
    assert "zone us-1" in paged(service, first)[0]["text"]
    kinds = [entry["kind"] for entry in incident(service, first)["timeline"]]
    assert "links" in kinds
    resolved = httpx.post(url, json=fixture("grafana", "resolved.json"), headers=auth)
    assert resolved.json()["alarms"][0]["outcome"] == "resolved", resolved.text
    assert incident(service, first)["state"] == "resolved"
    assert incident(service, receipts[1]["incident"])["state"] == "triggered"


def test_zabbix_problem_then_recovery(service: Service) -> None:
    url = f"{service.url}/api/v1/integrations/zabbix"
    auth = {"Authorization": "Bearer zabbix-e2e"}
    answer = httpx.post(url, json=fixture("zabbix", "problem.json"), headers=auth)
    assert answer.status_code == 200, answer.text
    (receipt,) = answer.json()["alarms"]
    number = receipt["incident"]
    assert "Disk full on db1" in paged(service, number)[0]["text"]
    assert incident(service, number)["severity"] == "high"
    recovery = httpx.post(url, json=fixture("zabbix", "recovery.json"), headers=auth)
    assert recovery.json()["alarms"][0]["outcome"] == "resolved", recovery.text
    assert incident(service, number)["state"] == "resolved"


def test_pagerduty_trigger_acknowledge_resolve(service: Service) -> None:
    url = f"{service.url}/api/v1/integrations/pagerduty/v2/enqueue"
    events = {name: fixture("pagerduty", f"{name}.json") for name in ("trigger", "acknowledge", "resolve")}
    for event in events.values():
        event |= {"routing_key": "pagerduty-e2e", "dedup_key": "e2e-key"}
    answer = httpx.post(url, json=events["trigger"])
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "success", "message": "Event processed", "dedup_key": "e2e-key"}
    listed = httpx.get(f"{service.url}/api/v1/incidents", headers=service.bearer()).json()
    (number,) = [str(item["id"]) for item in (listed["incidents"] if isinstance(listed, dict) else listed)]
    paged(service, number)
    assert httpx.post(url, json=events["acknowledge"]).status_code == 202
    shown = incident(service, number)
    assert shown["state"] == "acknowledged"
    assert httpx.post(url, json=events["resolve"]).status_code == 202
    assert incident(service, number)["state"] == "resolved"
    refused = httpx.post(url, json=events["trigger"] | {"routing_key": "unknown"})
    assert refused.status_code == 400 and refused.json()["message"] == "Invalid routing key"


def test_malformed_bodies_are_refused_and_store_nothing(service: Service) -> None:
    # Issue 17's "malformed ones, end to end through a real memoguard serve" (each kind's every case is in
    # tests/integration/test_*_source.py): the documented bodies, broken, and bytes that are no JSON.
    base = f"{service.url}/api/v1/integrations"
    grafana = fixture("grafana", "firing.json")
    del grafana["alerts"][1]["fingerprint"]
    answer = httpx.post(f"{base}/grafana", json=grafana, headers={"Authorization": "Bearer grafana-e2e"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "alerts", 1, "fingerprint"]
    zabbix = fixture("zabbix", "problem.json") | {"severity": "6"}
    answer = httpx.post(f"{base}/zabbix", json=zabbix, headers={"Authorization": "Bearer zabbix-e2e"})
    assert answer.status_code == 422 and "severity" in answer.text, answer.text
    answer = httpx.post(f"{base}/zabbix", content=b"{", headers={"Authorization": "Bearer zabbix-e2e"})
    assert answer.status_code == 422, answer.text
    trigger = fixture("pagerduty", "trigger.json") | {"routing_key": "pagerduty-e2e"}
    trigger["payload"]["severity"] = "fatal"
    answer = httpx.post(f"{base}/pagerduty/v2/enqueue", json=trigger)
    assert answer.status_code == 400, answer.text
    assert answer.json()["status"] == "invalid event" and answer.json()["message"] == "Event object is invalid"
    answer = httpx.post(f"{base}/pagerduty/v2/enqueue", content=b"\xff")
    assert answer.status_code == 400 and answer.json()["status"] == "invalid event", answer.text
    listed = httpx.get(f"{service.url}/api/v1/incidents", headers=service.bearer()).json()
    assert (listed["incidents"] if isinstance(listed, dict) else listed) == []
