"""``memoguard serve`` logs JSON lines when its stderr is not a terminal (issue 19, engine/logs.py): the
real service in a subprocess, stderr to a file, an alarm in; its lines carry the incident's id as a key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.service import Service, alertmanager_payload, e2e_config, eventually

PROMETHEUS = {"Authorization": "Bearer prometheus-e2e", "Content-Type": "application/json"}
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    running = Service(e2e_config(tmp_path, database_url), env={"JOURNAL_STREAM": ""})
    running.start()
    yield running
    running.stop()


def log_lines(service: Service) -> list[dict[str, object]]:
    """The JSON log lines (the console provider prints its pages on stdout, which shares the file)."""
    lines = service.log.read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if TEXT_LINE.match(line)], "a text log line under a non-terminal"
    found = []
    for line in lines:
        if line.startswith('{"ts":'):
            found.append(json.loads(line))
    return found


def test_serve_logs_json_lines_with_the_incident_id(service: Service) -> None:
    answer = httpx.post(
        f"{service.url}/api/v1/integrations/alertmanager",
        content=alertmanager_payload("firing.json"),
        headers=PROMETHEUS,
    )
    assert answer.status_code == 200, answer.text
    incident = answer.json()["alarms"][0]["incident"]
    sent = eventually(
        lambda: [
            line
            for line in log_lines(service)
            if line.get("incident_id") == str(incident) and line.get("notification_id") is not None
        ],
        10,
        "a JSON log line about the first page",
    )
    assert sent[0]["level"] == "info" and sent[0]["provider"] == "console" and sent[0]["person"]
    lines = log_lines(service)
    assert any(line["message"].startswith("memoguard serving on http://") for line in lines)  # type: ignore[union-attr]
    opened = [line for line in lines if str(line["message"]).startswith(f"incident {incident} opened")]
    assert opened and opened[0]["source"] == "prometheus"
