"""A source of kind zabbix, served for real (uvicorn on loopback, test_http.py's ``served``), on every
database, and the media type of contrib/zabbix/ that feeds it: its YAML export parses as Zabbix 6.0's, and
its JavaScript, run by node (when installed) with Zabbix's ``HttpRequest`` and ``Zabbix`` objects stood in
for, builds bodies the endpoint accepts. The bodies of tests/fixtures/zabbix/ are what that script posts
for the parameters Zabbix documents (see its README)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from tests.integration.test_http import Served, assert_refused
from tests.integration.test_http import served as served  # noqa: PLC0414 (a fixture, registered by its name)

ROOT = Path(__file__).parents[2]
MEDIA_TYPE = ROOT / "contrib" / "zabbix" / "memoguard_mediatype.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "zabbix"
URL = "/api/v1/integrations/zabbix"
BEARER = {"Authorization": "Bearer zabbix-secret"}


def body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def post(served: Served, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return served.client.post(URL, json=payload, headers=BEARER if headers is None else headers)


def outcomes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [receipt["outcome"] for receipt in response.json()["alarms"]]


def alarm_rows(served: Served) -> list[Any]:
    store: Any = served.application.store
    with store.engine.connect() as connection:
        return list(connection.execute(text("SELECT dedup_key, status, severity, summary, labels FROM alarm")))


def states(served: Served) -> list[str]:
    with served.application.store.read() as unit:
        return [row.incident.state.value for row in unit.incidents([], 100)]


def test_a_problem_opens_and_its_recovery_resolves(served: Served) -> None:
    assert outcomes(post(served, body("problem"))) == ["opened"]
    (row,) = alarm_rows(served)
    assert (row.dedup_key, row.status, row.severity, row.summary) == ("1043", "firing", "high", "Disk full on db1")
    labels = json.loads(row.labels) if isinstance(row.labels, str) else row.labels
    assert labels == {
        "scope": "capacity",
        "component": "storage,filesystem",
        "host": "db1",
        "trigger_id": "22104",
        "zabbix_severity": "high",
    }
    (incident,) = served.incident_ids()
    links = [t for kind, t in served.timeline(incident) if kind == "links"]
    assert links == ["zabbix: https://zabbix.example.net/tr_events.php?triggerid=22104&eventid=1043"]
    assert outcomes(post(served, body("problem"))) == ["attached"]
    assert outcomes(post(served, body("recovery"))) == ["resolved"]
    assert states(served) == ["resolved"]


def test_an_update_is_noted_on_the_timeline_and_pages_on(served: Served) -> None:
    post(served, body("problem"))
    (incident,) = served.incident_ids()
    update = body("problem") | {"status": "update", "message": "Admin acknowledged problem: looking"}
    assert outcomes(post(served, update)) == []
    assert states(served) == ["triggered"]
    assert served.timeline(incident)[-1] == (
        "source_acknowledged",
        "zabbix: the problem was updated in Zabbix (not a person's ack: paging goes on): "
        "Admin acknowledged problem: looking",
    )


@pytest.mark.parametrize(
    ("given", "severity"),
    [
        ("0", "info"),  # the service fixture's severity_map: not_classified -> info
        ("1", "info"),
        ("2", "warning"),
        ("3", "high"),
        ("4", "high"),
        ("5", "critical"),
        ("disaster", "critical"),
    ],
)
def test_the_six_levels_are_mapped(served: Served, given: str, severity: str) -> None:
    assert outcomes(post(served, body("problem") | {"severity": given})) == ["opened"]
    assert [r.severity for r in alarm_rows(served)] == [severity]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"event_id": "{EVENT.ID}"}, ("event_id",)),
        ({"status": "resolved"}, ("status", "problem")),
        ({"severity": "6"}, ("severity",)),
        ({"severity": 5}, ("severity",)),
        ({"name": " "}, ("name", "blank")),
        ({"tags": [{"value": "x"}]}, ("tags.0.tag", "Field required")),
        ({"host": "db\u00001"}, ("host", "NUL")),
    ],
)
def test_a_malformed_event_is_refused_naming_what_is_wrong(
    served: Served, change: dict[str, Any], words: tuple[str, ...]
) -> None:
    before = served.state()
    assert_refused(served, before, post(served, copy.deepcopy(body("problem")) | change), 422, *words)


def test_a_missing_event_id_is_refused(served: Served) -> None:
    before = served.state()
    payload = body("problem")
    del payload["event_id"]
    assert_refused(served, before, post(served, payload), 422, "event_id", "Field required")


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 401, ("missing bearer token",)),
        ({"Authorization": "Bearer wrong"}, 401, ("invalid token",)),
        ({"Authorization": "Bearer grafana-secret"}, 403, ("'alerting'", "grafana", "not zabbix")),
    ],
)
def test_without_the_token_of_a_zabbix_source_nothing_is_stored(
    served: Served, headers: dict[str, str], status: int, words: tuple[str, ...]
) -> None:
    before = served.state()
    assert_refused(served, before, post(served, body("problem"), headers), status, *words)


# --- the media type -----------------------------------------------------------------------------------


def media_type() -> dict[str, Any]:
    document = yaml.safe_load(MEDIA_TYPE.read_text(encoding="utf-8"))
    (media,) = document["zabbix_export"]["media_types"]
    assert isinstance(media, dict)
    return media


def test_the_media_type_is_a_zabbix_6_webhook_export() -> None:
    document = yaml.safe_load(MEDIA_TYPE.read_text(encoding="utf-8"))
    assert document["zabbix_export"]["version"] == "6.0"
    media = media_type()
    assert media["name"] == "memoguard" and media["type"] == "WEBHOOK"
    parameters = {p["name"]: p["value"] for p in media["parameters"]}
    assert parameters["event_id"] == "{EVENT.ID}"
    assert parameters["event_severity"] == "{EVENT.NSEVERITY}"
    assert parameters["memoguard_token"] == "{$MEMOGUARD.TOKEN}"
    modes = {(t["event_source"], t["operation_mode"]) for t in media["message_templates"]}
    assert modes == {("TRIGGERS", "PROBLEM"), ("TRIGGERS", "RECOVERY"), ("TRIGGERS", "UPDATE")}
    assert "return 'OK';" in media["script"]


# Stands in for Zabbix's JavaScript objects (Duktape's HttpRequest and Zabbix.log): records the request,
# answers with the status given, prints what the script returned or threw.
HARNESS = """
const fs = require('fs');
const [script, params, status] = [fs.readFileSync(process.argv[2], 'utf8'), process.argv[3], +process.argv[4]];
const sent = {headers: [], url: null, body: null};
global.HttpRequest = function () {
    this.addHeader = (h) => sent.headers.push(h);
    this.post = (url, body) => { sent.url = url; sent.body = body; return '{"alarms": []}'; };
    this.getStatus = () => status;
};
global.Zabbix = {log: () => {}};
let result, error = null;
try { result = new Function('value', script)(params); } catch (e) { error = String(e); }
console.log(JSON.stringify({sent, result, error}));
"""

PARAMETERS = {
    "event_id": "1043",
    "event_name": "Disk full on db1",
    "event_severity": "4",
    "event_source": "0",
    "event_tags": '[{"tag":"scope","value":"capacity"},{"tag":"component","value":"storage"},'
    '{"tag":"component","value":"filesystem"}]',
    "event_update": "0",
    "event_value": "1",
    "host": "db1",
    "message": "Problem started at 10:00:00 on 2026.11.17\nHost: db1\nSeverity: High",
    "memoguard_token": "zabbix-secret",
    "memoguard_url": "https://memoguard.example.net/",
    "trigger_id": "22104",
    "zabbix_url": "https://zabbix.example.net",
}


def run_script(tmp_path: Path, parameters: dict[str, str], status: int = 200) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the media type's JavaScript is not run (its YAML is still checked)")
    script = tmp_path / "script.js"
    script.write_text(media_type()["script"], encoding="utf-8")
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS, encoding="utf-8")
    done = subprocess.run(
        [node, str(harness), str(script), json.dumps(parameters), str(status)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("changes", "fixture"), [({}, "problem"), ({"event_value": "0"}, "recovery")], ids=["problem", "recovery"]
)
def test_the_script_posts_what_the_fixtures_hold(tmp_path: Path, changes: dict[str, str], fixture: str) -> None:
    ran = run_script(tmp_path, PARAMETERS | changes)
    assert ran["error"] is None and ran["result"] == "OK", ran
    assert ran["sent"]["url"] == "https://memoguard.example.net/api/v1/integrations/zabbix"
    assert "Authorization: Bearer zabbix-secret" in ran["sent"]["headers"]
    assert json.loads(ran["sent"]["body"]) == body(fixture)


def test_what_the_script_posts_is_accepted(served: Served, tmp_path: Path) -> None:
    for changes, outcome in (({}, "opened"), ({"event_update": "1"}, None), ({"event_value": "0"}, "resolved")):
        sent = run_script(tmp_path, PARAMETERS | changes)["sent"]
        headers = dict(h.split(": ", 1) for h in sent["headers"])
        response = served.client.post(URL, content=sent["body"], headers=headers)
        assert outcomes(response) == ([outcome] if outcome else [])


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({}, 401, "memoguard answered 401"),
        ({"memoguard_url": "{$MEMOGUARD.URL}"}, 200, 'parameter "memoguard_url" is not set'),
        ({"event_value": "2"}, 200, "unexpected {EVENT.VALUE}"),
        ({"event_source": "3"}, 200, "trigger events only"),
    ],
)
def test_the_script_fails_loudly(tmp_path: Path, changes: dict[str, str], status: int, words: str) -> None:
    ran = run_script(tmp_path, PARAMETERS | changes, status)
    assert ran["error"] is not None and words in ran["error"], ran
